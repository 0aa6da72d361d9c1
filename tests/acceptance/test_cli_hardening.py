"""The `uno-jobs` commands as real processes: one-line failures that keep the reason,
weak or missing secrets refused, private data files, and no password or token
left in what they print."""

from __future__ import annotations

import os
import pty
import queue
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from helpers import POSTGRES_URL, fresh_schema
from processes import clean_env, free_port, wait_until_ready

pytestmark = pytest.mark.slow
UNO_JOBS = str(Path(sys.executable).parent / "uno-jobs")
START_TIMEOUT = 30.0
SECRET = "cli-hardening-secret-of-at-least-32-bytes"


def uno_jobs(
    *args: str, cwd: Path, timeout: float = 30, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UNO_JOBS, *args],
        env=clean_env(PYTHONUNBUFFERED="1", **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- database failures: one line, the reason kept --------------------------------------


@pytest.mark.parametrize("command", ["worker", "scheduler", "migrate", "serve"])
def test_an_unreachable_database_is_one_line_with_the_reason(
    command: str, closed_port: int, tmp_path: Path
) -> None:
    url = f"postgresql://postgres:hunter2@127.0.0.1:{closed_port}/x"
    result = uno_jobs(command, "--database", url, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert output.splitlines() == [result.stderr.strip()], output
    line = result.stderr.strip()
    shown = f"postgresql://postgres:***@127.0.0.1:{closed_port}/x"
    assert line.startswith(f"uno-jobs: Cannot reach the database at {shown}: "), line
    assert "Connection refused" in line
    assert "hunter2" not in output and "Traceback" not in output


def test_debug_shows_the_traceback_too(closed_port: int, tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port}/x"
    result = uno_jobs("--debug", "worker", "--database", url, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("uno-jobs: Cannot reach the database")


def test_a_silent_database_fails_within_the_connect_timeout(
    silent_port: int, tmp_path: Path
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent_port}/x"
    started = time.monotonic()
    result = uno_jobs("worker", "--database", url, cwd=tmp_path, UNO_JOBS_PG_CONNECT_TIMEOUT="2")
    assert time.monotonic() - started < 2 + 8  # start-up of the interpreter included
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "timeout" in result.stderr and "Traceback" not in result.stderr


# -- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["token", "serve"])
def test_a_short_jwt_secret_is_refused(command: str, tmp_path: Path) -> None:
    result = uno_jobs(
        command, cwd=tmp_path, UNO_JOBS_JWT_SECRET="a", UNO_JOBS_DATA_DIR=str(tmp_path / "d")
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "uno-jobs: UNO_JOBS_JWT_SECRET is too short (1 bytes): an HS256 secret needs at least "
        "32 bytes (make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    ]


def test_token_refuses_to_mint_without_the_servers_secret(tmp_path: Path) -> None:
    server_data = tmp_path / "server" / ".uno-jobs"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = uno_jobs("token", cwd=elsewhere)
    assert result.returncode == 1
    assert result.stdout == ""
    looked_at = elsewhere / ".uno-jobs" / "jwt-secret"
    assert result.stderr.strip().splitlines() == [
        f"uno-jobs: no JWT secret to sign with: UNO_JOBS_JWT_SECRET is not set and {looked_at} "
        "does not exist; set UNO_JOBS_JWT_SECRET, or point UNO_JOBS_DATA_DIR (or --data-dir) "
        "at the data folder of the server"
    ]
    assert not (elsewhere / ".uno-jobs").exists()

    server_data.mkdir(parents=True)
    (server_data / "jwt-secret").write_text(SECRET)
    minted = uno_jobs("token", "--data-dir", str(server_data), "--ttl", "60", cwd=elsewhere)
    assert minted.returncode == 0, minted.stderr
    claims = jwt.decode(minted.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "admin"


# -- a real server: private files, masked banner, token only to a terminal ---------------


class Serve:
    """`uno-jobs serve` in ``cwd`` whose output is read line by line."""

    def __init__(self, cwd: Path, *args: str, tty: bool = False, **env: str) -> None:
        self.port = free_port()
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        command = [UNO_JOBS, "serve", "--port", str(self.port), "--concurrency", "1", *args]
        reader_fd: int | None = None
        if tty:
            reader_fd, writer_fd = pty.openpty()
            stdout: int = writer_fd
        else:
            stdout = subprocess.PIPE
        self.process = subprocess.Popen(
            command,
            env=clean_env(UNO_JOBS_SHUTDOWN_GRACE="2", **env),
            cwd=cwd,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=lambda: os.umask(0o022),  # the usual umask, which made 755 and 644
        )
        if tty:
            assert reader_fd is not None
            os.close(writer_fd)
            self.reader = threading.Thread(target=self._pump_pty, args=(reader_fd,), daemon=True)
        else:
            self.reader = threading.Thread(target=self._pump_pipe, daemon=True)
        self.reader.start()

    def _pump_pipe(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self.output.append(line)
                self.lines.put(line)

    def _pump_pty(self, fd: int) -> None:
        pending = b""
        while True:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                if self.process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line = raw.decode(errors="replace").rstrip("\r") + "\n"
                self.output.append(line)
                self.lines.put(line)
        os.close(fd)

    def line_starting(self, prefix: str) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and self.process.poll() is None, "".join(self.output)
            try:
                line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line.startswith(prefix):
                return line.strip()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        wait_until_ready(self.url, self.process, lambda: "".join(self.output), START_TIMEOUT)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        # The reader takes the last lines and closes its end once the process is gone.
        self.reader.join(10)
        assert not self.reader.is_alive(), "the output of serve never ended"
        return "".join(self.output)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_keeps_its_data_private_and_its_token_off_a_pipe(tmp_path: Path) -> None:
    server = Serve(tmp_path)
    try:
        line = server.line_starting("Admin token")
        server.wait_ready()
        data = tmp_path / ".uno-jobs"
        token_file = data / "admin-token"
        assert line == f"Admin token (valid 24 h) written to {token_file}"  # the absolute path
        token = token_file.read_text().strip()
        response = httpx.get(
            f"{server.url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        assert mode(data) == 0o700
        for name in ("demo.db", "demo.db-wal", "demo.db-shm", "jwt-secret", "admin-token"):
            assert mode(data / name) == 0o600, name
    finally:
        output = server.stop()
    assert token not in output


def test_serve_shows_the_token_to_a_terminal(tmp_path: Path) -> None:
    server = Serve(tmp_path, tty=True)
    try:
        line = server.line_starting("Admin token")
        token = line.rsplit(" ", 1)[-1]
        assert line == f"Admin token (valid 24 h): {token}"
        secret = (tmp_path / ".uno-jobs" / "jwt-secret").read_text().strip()
        assert jwt.decode(token, secret, algorithms=["HS256"])["sub"] == "admin"
        assert not (tmp_path / ".uno-jobs" / "admin-token").exists()
    finally:
        server.stop()


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards (skipped without PostgreSQL, but not in CI)."""
    with fresh_schema("cli") as name:
        yield name


@pytest.mark.postgres
def test_no_password_is_shown_by_serve_or_a_worker(tmp_path: Path, schema: str) -> None:
    base = POSTGRES_URL.replace("postgresql://postgres@", "postgresql://postgres:hunter2@", 1)
    assert "hunter2" in base, "the test URL names no user to give a password to"
    url = f"{base}?schema={schema}"
    server = Serve(tmp_path, "--no-worker", UNO_JOBS_DATABASE_URL=url, UNO_JOBS_JWT_SECRET=SECRET)
    worker: subprocess.Popen[str] | None = None
    try:
        banner = server.line_starting("Database:")
        assert banner == f"Database: {url.replace('hunter2', '***')}"
        server.wait_ready()
        worker = subprocess.Popen(
            [UNO_JOBS, "worker", "--database", url, "--concurrency", "1"],
            env=clean_env(UNO_JOBS_SHUTDOWN_GRACE="2"),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert worker.stdout is not None
        started = ""
        deadline = time.monotonic() + START_TIMEOUT
        while "started" not in started:
            assert time.monotonic() < deadline and worker.poll() is None, started
            started = worker.stdout.readline()
        assert "postgres:***@" in started
        worker.send_signal(signal.SIGTERM)
        rest = worker.communicate(timeout=15)[0]
    finally:
        if worker is not None:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
            assert worker.stdout is not None
            worker.stdout.close()
        output = server.stop()
    assert "hunter2" not in output + started + rest
