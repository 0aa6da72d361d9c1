"""The README's "Getting started in 5 minutes", followed as written in an empty folder.

The code blocks are read from the README, not copied here: the Python block is the
file its first line names, the first shell block runs as one script (with the
environment's ``bin`` on ``PATH``, as after ``. .venv/bin/activate``), and the
second starts the server. Only the server's port is changed, to a free one, since
other tests may hold 8001 on a shared machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest
from cli_support import REPO

from processes import clean_env, free_port, wait_until_ready

pytestmark = pytest.mark.slow
SECTION = "## Getting started in 5 minutes"
SECRET = "readme-getting-started-secret-of-32-bytes-or-more"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)


def getting_started_blocks() -> list[tuple[str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return FENCE.findall(section)


def test_getting_started_runs_as_written(tmp_path: Path) -> None:
    blocks = getting_started_blocks()
    assert [kind for kind, _ in blocks] == ["python", "sh", "sh"]
    (_, code), (_, script), (_, serve) = blocks
    file_name = code.splitlines()[0].removeprefix("# ").strip()
    (tmp_path / file_name).write_text(code, encoding="utf-8")
    env = clean_env(
        PATH=f"{Path(sys.executable).parent}:{clean_env()['PATH']}",
        PYTHONUNBUFFERED="1",
        UNO_JOBS_JWT_SECRET=SECRET,
    )

    steps = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert steps.returncode == 0, steps.stdout + steps.stderr
    assert "schema created" in steps.stdout
    assert '"welcome, alice"' in steps.stdout.splitlines()
    assert "Jobs 1-2 of 2" in steps.stdout and "completed" in steps.stdout
    assert "Traceback" not in steps.stderr

    port = free_port()
    command = serve.split("#", 1)[0].strip().replace("--port 8001", f"--port {port}")
    server = subprocess.Popen(
        command.split(), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, server, lambda: "", timeout=120)
        assert httpx.get(f"{base}/").headers.get("location") == "/dashboard"
        claims = {"sub": "t", "scope": "jobs:read", "exp": int(time.time()) + 600}
        token = jwt.encode(claims, SECRET, algorithm="HS256")
        jobs = httpx.get(f"{base}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
        assert jobs.status_code == 200, jobs.text
        listed = jobs.json()["items"]
        assert sorted(j["args"][0] for j in listed) == ["alice", "bob"]  # the CLI's jobs
    finally:
        server.terminate()
        server.wait(timeout=60)
