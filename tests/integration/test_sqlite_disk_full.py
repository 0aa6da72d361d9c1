"""`uno-jobs serve` on a SQLite file whose disk fills up (a 2 MiB tmpfs in a
private mount namespace): POST /jobs answers a storage error with a detail,
never a 500; reads keep working; writes come back once a little room is freed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from helpers import eventually_blocking
from processes import free_port, wait_until_ready

pytestmark = pytest.mark.slow
UNO_JOBS = str(Path(sys.executable).parent / "uno-jobs")
SECRET = "a-test-secret-of-more-than-thirty-two-bytes"
BODY = {"task_name": "echo", "args": ["x" * 2000]}


def token() -> str:
    now = int(time.time())
    claims = {"sub": "tester", "scope": "jobs:read jobs:write jobs:admin", "iat": now}
    return jwt.encode({**claims, "exp": now + 600}, SECRET, algorithm="HS256")


def test_serve_on_a_full_disk_answers_a_storage_error_and_recovers(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    nsenter = shutil.which("nsenter")
    if unshare is None or nsenter is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root, unshare and nsenter (CI runs as root)")
    disk = tmp_path / "disk"
    disk.mkdir()
    probe = subprocess.run(
        [unshare, "-m", "sh", "-c", f"mount -t tmpfs -o size=2m tmpfs {disk}"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.strip()}")

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_JOBS_")}
    env.update(
        UNO_JOBS_DATA_DIR=str(tmp_path / "data"),
        UNO_JOBS_DATABASE_URL=f"sqlite:///{disk / 'jobs.db'}",
        UNO_JOBS_JWT_SECRET=SECRET,
        UNO_JOBS_SHUTDOWN_GRACE="2",
    )
    # Inside the namespace: mount, leave 384 KiB taken by a filler, then serve
    # (exec: the server keeps the shell's pid, so nsenter finds its namespace).
    script = (
        f"mount -t tmpfs -o size=2m tmpfs {disk} && "
        f"head -c 393216 /dev/zero > {disk / 'filler'} && "
        f"exec {UNO_JOBS} serve --app uno.jobs.demo --port {port} --no-worker"
    )
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [unshare, "-m", "sh", "-c", script], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, server, (tmp_path / "serve.log").read_text)

        headers = {"Authorization": f"Bearer {token()}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            accepted = 0
            for _ in range(2000):
                response = client.post("/api/v1/jobs", json=BODY)
                if response.status_code != 201:
                    break
                accepted += 1
            assert accepted > 0
            assert response.status_code in (503, 507), response.text
            detail = response.json()["detail"]
            assert "jobs.db" in detail and "full" in detail
            listed = client.get("/api/v1/jobs", params={"limit": 1})
            assert listed.status_code == 200 and listed.json()["total"] == accepted

            subprocess.run(
                [nsenter, "-t", str(server.pid), "-m", "rm", str(disk / "filler")], check=True
            )

            def written() -> bool:
                response = client.post("/api/v1/jobs", json=BODY)
                assert response.status_code in (201, 503, 507), response.text
                return response.status_code == 201

            eventually_blocking(written, timeout=20, what="writes resumed after room was freed")
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()
