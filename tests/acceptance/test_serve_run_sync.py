"""run-sync against a real `uno-jobs serve`: a client that leaves ends its wait, a paused
queue answers 409 at once, and SIGINT stops the server while a run-sync waits."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from helpers import eventually_blocking
from processes import clean_env, free_port, wait_until_ready
from uno.jobs.settings import Settings
from uno.jobs.tokens import issue_token

pytestmark = pytest.mark.slow
UNO_JOBS = str(Path(sys.executable).parent / "uno-jobs")
START_TIMEOUT = 30.0
SECRET = "a-test-secret-of-at-least-thirty-two-bytes"
#: A run-sync that would hold its request for a minute.
LONG_RUN = {"task_name": "sleep", "args": [60], "timeout": 120}


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    token: str
    output: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def waiters(self) -> float:
        """The server's ``uno_jobs_waiters`` gauge, read from ``/metrics``."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        found = re.search(r"^uno_jobs_waiters (\S+)$", text, re.MULTILINE)
        assert found, text
        return float(found.group(1))

    def open_run_sync(self) -> socket.socket:
        """Send a run-sync request for ``LONG_RUN`` and leave it waiting."""
        body = json.dumps(LONG_RUN).encode()
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall(
            b"POST /api/v1/jobs/run-sync HTTP/1.1\r\nHost: test\r\n"
            + f"Authorization: Bearer {self.token}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        return sock


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve-run-sync")
    env = clean_env(
        UNO_JOBS_DATA_DIR=str(tmp / "data"),
        UNO_JOBS_DATABASE_URL=f"sqlite:///{tmp / 'jobs.db'}",
        UNO_JOBS_JWT_SECRET=SECRET,
        UNO_JOBS_SHUTDOWN_GRACE="1",
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    process = subprocess.Popen(
        [UNO_JOBS, "serve", "--app", "uno.jobs.demo", "--port", str(port), "--concurrency", "50"],
        env=env,
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:  # closed at the end of the output, when the server is gone
            output.extend(process.stdout)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    token = issue_token(Settings(jwt_secret=SECRET), "tester", ttl=600)
    running = Server(process, port, token, output)

    wait_until_ready(running.url, process, lambda: "".join(output), START_TIMEOUT)
    yield running
    if process.poll() is None:
        process.kill()
        process.wait(10)
    reader.join(10)


def test_a_client_that_leaves_ends_its_wait_and_the_job_goes_on(server: Server) -> None:
    sockets = [server.open_run_sync() for _ in range(20)]
    eventually_blocking(
        lambda: server.waiters() == 20, timeout=10, what="20 run-sync requests waiting"
    )
    for sock in sockets:
        sock.close()
    eventually_blocking(
        lambda: server.waiters() == 0, timeout=5, what="waits ended after the clients left"
    )
    with server.client() as client:
        running = client.get("/api/v1/jobs", params={"task_name": "sleep", "status": "running"})
        assert running.json()["total"] == 20


def test_run_sync_into_a_paused_queue_is_refused_at_once(server: Server) -> None:
    with server.client() as client:
        assert client.post("/api/v1/queues/reports/pause").status_code == 204
        started = time.monotonic()
        refused = client.post(
            "/api/v1/jobs/run-sync", json={"task_name": "generate_report", "args": ["daily"]}
        )
        assert time.monotonic() - started < 5
        assert refused.status_code == 409
        assert "paused" in refused.json()["detail"]
        listed = client.get("/api/v1/jobs", params={"task_name": "generate_report"})
        assert listed.json()["total"] == 0


def test_sigint_stops_the_server_while_a_run_sync_waits(server: Server) -> None:
    with server.client() as client:

        def running() -> int:
            params = {"task_name": "sleep", "status": "running"}
            return int(client.get("/api/v1/jobs", params=params).json()["total"])

        before = running()
        sock = server.open_run_sync()
        eventually_blocking(
            lambda: running() == before + 1, timeout=10, what="the run-sync job running"
        )
    started = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    answer = ""
    while "stopping" not in answer and (chunk := sock.recv(4096)):
        answer += chunk.decode()
    assert answer.startswith("HTTP/1.1 503"), answer
    assert "stopping" in answer
    server.process.wait(timeout=15)
    assert time.monotonic() - started < 10, "".join(server.output)
    assert "Application shutdown complete" in "".join(server.output)
    sock.close()
