"""The HTTP edge of a real `uno-jobs serve` process: bounded request heads and bodies,
the token checked before the body, and token edge cases answered with 401."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from processes import clean_env, free_port, wait_until_ready

pytestmark = pytest.mark.slow
UNO_JOBS = str(Path(sys.executable).parent / "uno-jobs")
START_TIMEOUT = 30.0
SECRET = "a-serve-hardening-secret-of-more-than-32-bytes"
JOBS = "/api/v1/jobs"
#: What "quickly" means below: far less than reading megabytes of headers took.
QUICK = 3.0


def token(**claims: Any) -> str:
    now = int(time.time())
    base = {"sub": "t", "scope": "jobs:read jobs:write jobs:admin", "iat": now, "exp": now + 600}
    return jwt.encode(base | claims, SECRET, algorithm="HS256")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, bearer: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def raw(self, head: bytes, timeout: float = QUICK) -> bytes:
        """Send ``head`` on a fresh connection and read the answer's first line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(head)
            return sock.recv(65536).split(b"\r\n", 1)[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve-hardening")
    env = clean_env(
        UNO_JOBS_DATA_DIR=str(tmp / "data"),
        UNO_JOBS_DATABASE_URL=f"sqlite:///{tmp / 'jobs.db'}",
        UNO_JOBS_JWT_SECRET=SECRET,
        UNO_JOBS_SHUTDOWN_GRACE="2",
    )
    port = free_port()
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen(
        [UNO_JOBS, "serve", "--app", "uno.jobs.demo", "--port", str(port), "--no-scheduler"],
        env=env,
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(process, port)
    wait_until_ready(server.url, process, (tmp / "serve.log").read_text, START_TIMEOUT)
    yield server
    process.kill()
    process.wait(10)
    log.close()


def total_jobs(server: Server) -> int:
    with server.client(token()) as client:
        return int(client.get(JOBS).json()["total"])


def test_a_huge_header_is_refused_while_healthz_keeps_answering(server: Server) -> None:
    outcome: dict[str, Any] = {}

    def attack() -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            try:
                sock.sendall(b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Big: ")
                for _ in range(32):  # 2 MiB of one header line
                    sock.sendall(b"a" * 65536)
                sock.sendall(b"\r\n\r\n")
                outcome["answer"] = sock.recv(65536).split(b"\r\n", 1)[0]
            except OSError as exc:  # the server closed the connection on us
                outcome["closed"] = exc
        outcome["seconds"] = time.monotonic() - started

    attacker = threading.Thread(target=attack)
    attacker.start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while attacker.is_alive():
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            assert time.monotonic() - started < QUICK
    attacker.join()
    assert outcome["seconds"] < QUICK
    if "answer" in outcome:  # the server answered before closing: not the app's 401
        assert outcome["answer"] in (
            b"HTTP/1.1 431 Request Header Fields Too Large",
            b"HTTP/1.1 400 Bad Request",
            b"",
        ), outcome
    with server.client(token()) as client:  # and the server serves on
        assert client.get(JOBS).status_code == 200


def test_a_head_past_either_bound_answers_431(server: Server) -> None:
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(200))
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n"
    assert server.raw(head) == b"HTTP/1.1 431 Request Header Fields Too Large"
    long_line = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-H: " + b"v" * 20_000 + b"\r\n\r\n"
    assert server.raw(long_line) == b"HTTP/1.1 431 Request Header Fields Too Large"
    ordinary = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-H: " + b"v" * 10_000 + b"\r\n\r\n"
    assert server.raw(ordinary) == b"HTTP/1.1 200 OK"


def test_a_declared_huge_body_is_refused_before_it_is_sent(server: Server) -> None:
    head = (
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 52428800\r\n"
    )
    # With a token: 413 at once (the server does not wait for 50 MB that never come).
    authorized = head + f"Authorization: Bearer {token()}\r\n\r\n".encode()
    assert server.raw(authorized) == b"HTTP/1.1 413 Request Entity Too Large"
    # Without one: 401, equally without reading the body.
    assert server.raw(head + b"\r\n") == b"HTTP/1.1 401 Unauthorized"


def test_a_streamed_body_past_the_limit_is_a_413_and_nothing_is_written(server: Server) -> None:
    before = total_jobs(server)

    def chunks() -> Iterator[bytes]:
        yield b'{"task_name": "echo", "args": ["'
        for _ in range(32):  # 2 MiB, over the default limit of 1 MiB
            yield b"x" * 65536
        yield b'"]}'

    with server.client(token()) as client:
        response = client.post(JOBS, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than 1048576 bytes" in response.json()["detail"]
    assert total_jobs(server) == before


def test_no_token_is_a_401_before_a_malformed_body_is_parsed(server: Server) -> None:
    with server.client() as client:
        response = client.post(
            JOBS, content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_token_edge_cases_answer_401(server: Server) -> None:
    for bad in (token(exp=10**400), token(iat=10**400), token(padding="p" * 9000)):
        with server.client(bad) as client:
            response = client.get(JOBS)
        assert response.status_code == 401, response.text
        assert response.json()["detail"].startswith("Invalid token")
