"""`uno-jobs serve --app uno.jobs.demo` as a real process, driven with the seed's
JSON examples verbatim; then `uno-jobs token`, and a polite stop on SIGTERM."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import eventually_blocking
from processes import clean_env, free_port, wait_until_ready

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))

from helpers_api import (
    SEED_CANCEL,
    SEED_CREATE_JOB,
    SEED_CRON_SCHEDULE,
    SEED_INTERVAL_SCHEDULE,
    SEED_RUN_SYNC,
    SEED_UPDATE_SCHEDULE,
)

pytestmark = pytest.mark.slow
UNO_JOBS = str(Path(sys.executable).parent / "uno-jobs")
START_TIMEOUT = 30.0


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    token: str
    env: dict[str, str]
    output: list[str]

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )


def _env(tmp: Path) -> dict[str, str]:
    return clean_env(
        UNO_JOBS_DATA_DIR=str(tmp / "data"),
        UNO_JOBS_DATABASE_URL=f"sqlite:///{tmp / 'jobs.db'}",
        UNO_JOBS_SHUTDOWN_GRACE="5",
        PYTHONUNBUFFERED="1",
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    env = _env(tmp)
    port = free_port()
    process = subprocess.Popen(
        [UNO_JOBS, "serve", "--app", "uno.jobs.demo", "--port", str(port), "--concurrency", "4"],
        env=env,
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:  # closed at the end of the output, when the server is gone
            for line in process.stdout:
                output.append(line)
                lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT
    token = ""
    while not token:
        remaining = deadline - time.monotonic()
        assert remaining > 0 and process.poll() is None, "".join(output)
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line.startswith("Admin token"):  # stdout is no terminal: the token is in a file
            token = Path(line.split(" written to ", 1)[1].strip()).read_text().strip()
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url, process, lambda: "".join(output), max(deadline - time.monotonic(), 1))
    yield Server(process, url, token, env, output)
    if process.poll() is None:
        process.kill()
        process.wait(10)
    reader.join(10)


def poll_job(client: httpx.Client, job_id: str, timeout: float = 15.0) -> dict[str, Any]:
    """The job once it has finished, read over HTTP from the server process."""

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["status"] in {"completed", "failed", "cancelled", "timeout"} else None

    return eventually_blocking(finished, timeout=timeout, what=f"job {job_id} finished")


def test_the_seed_job_runs_to_its_result(server: Server) -> None:
    with server.client() as client:
        response = client.post("/api/v1/jobs", json=SEED_CREATE_JOB)
        assert response.status_code == 201, response.text
        assert response.json()["id"] == "custom-job-id"
        done = poll_job(client, "custom-job-id")
        assert done["status"] == "completed"
        assert done["result"] == {"processed": 42}
        assert done["duration"] is not None
        listed = client.get("/api/v1/jobs", params={"status": "completed", "tags": "data"})
        assert "custom-job-id" in {job["id"] for job in listed.json()["items"]}


def test_run_sync_returns_the_raw_value(server: Server) -> None:
    with server.client() as client:
        response = client.post("/api/v1/jobs/run-sync", json=SEED_RUN_SYNC)
        assert response.status_code == 200
        assert response.json() == {"processed": 42}


def test_seed_schedules_and_update(server: Server) -> None:
    with server.client() as client:
        cron = client.post("/api/v1/schedules", json=SEED_CRON_SCHEDULE)
        interval = client.post("/api/v1/schedules", json=SEED_INTERVAL_SCHEDULE)
        assert (cron.status_code, interval.status_code) == (201, 201)
        updated = client.put(f"/api/v1/schedules/{cron.json()['id']}", json=SEED_UPDATE_SCHEDULE)
        assert updated.status_code == 200
        assert updated.json()["name"] == "Updated Daily Report"
        assert updated.json()["cron_expression"] == "0 1 * * *"
        listed = client.get("/api/v1/schedules").json()
        assert listed["total"] == 2 and listed["pages"] == 1


def test_cancel_with_the_seed_body_and_other_listings(server: Server) -> None:
    with server.client() as client:
        later = client.post(
            "/api/v1/jobs", json={"task_name": "echo", "scheduled_at": "2036-01-01T00:00:00Z"}
        ).json()
        cancelled = client.post(f"/api/v1/jobs/{later['id']}/cancel", json=SEED_CANCEL)
        assert cancelled.json()["metadata"]["cancel_reason"] == "User-initiated cancellation"
        queues = {q["name"] for q in client.get("/api/v1/queues").json()["items"]}
        assert {"default", "reports"} <= queues
        tasks = {t["name"] for t in client.get("/api/v1/tasks").json()["items"]}
        assert {"process_data", "generate_report", "check_status"} <= tasks
        assert client.get("/api/v1/jobs/stats").json()["total_jobs"] >= 2
        assert client.get("/dashboard").status_code == 200


def test_token_command_mints_tokens_the_server_accepts(server: Server) -> None:
    result = subprocess.run(
        [UNO_JOBS, "token", "--sub", "reader", "--scope", "jobs:read", "--ttl", "60"],
        env=server.env,
        cwd=Path(server.env["UNO_JOBS_DATA_DIR"]).parent,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    token = result.stdout.strip()
    with server.client(token) as client:
        assert client.get("/api/v1/jobs").status_code == 200
        assert client.post("/api/v1/jobs", json={"task_name": "echo"}).status_code == 403
    with httpx.Client(base_url=server.url) as anonymous:
        refused = anonymous.get("/api/v1/jobs")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"


def test_sigterm_stops_the_server_politely(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once its graceful shutdown is done.
    assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
    output = "".join(server.output)
    assert "Application shutdown complete" in output
    assert "Scheduler stopped" in output
