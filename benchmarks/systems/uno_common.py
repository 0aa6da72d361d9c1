"""What uno-jobs on SQLite and on PostgreSQL share: enqueue, worker, API server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import BenchError, Workdir, log
from benchmarks.systems.base import REPO, SETTING_DEFAULT, ServerFacts, System

APP = "benchmarks.systems.uno_tasks"
JWT_SECRET = "uno-jobs-benchmark-secret-at-least-32-bytes"
#: the worker setting that makes its bookkeeping commit durably (``--uno-durable``)
DURABLE_ENV = "UNO_JOBS_WORKER_DURABLE_ACKS"
TRUE_WORDS = ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class UnoVariant:
    """A configuration of uno-jobs under test: extra environment and worker arguments.

    ``name`` is empty for the plain defaults; the others appear in the results
    as ``uno_postgres+<name>``, so two durability modes stand side by side.
    """

    name: str = ""
    env: tuple[tuple[str, str], ...] = ()
    worker_args: tuple[str, ...] = field(default=())

    def durable_acks(self, durable_env: str) -> bool | None:
        """Whether this variant asks for durable acknowledgements; ``None``: it does
        not say (the store's default)."""
        for key, value in self.env:
            if key == durable_env:
                return value.lower() in TRUE_WORDS
        return None

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.env] + list(self.worker_args)
        return " ".join(parts)


def uno_command() -> list[str]:
    script = Path(sys.executable).with_name("uno-jobs")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from uno.jobs.cli import main; main()"]


class UnoSystem(System):
    is_uno = True
    serves_api = True
    requires = ("uno.jobs.worker",)
    distributions = ("uno-jobs",)
    default_concurrency = 10
    best_concurrency = 50
    best_reason = "--concurrency 50: the tuned setting of docs/benchmarks.md"
    #: the variable that ``--uno-durable`` sets; ``run.py --uno-durable-env`` renames it
    durable_env = DURABLE_ENV

    def __init__(
        self, ctx: Any, setting: str = SETTING_DEFAULT, variant: UnoVariant | None = None
    ) -> None:
        super().__init__(ctx, setting)
        self.variant = variant or UnoVariant()
        self._jobs: Any = None

    @property
    def key(self) -> str:
        suffix = f"+{self.variant.name}" if self.variant.name else ""
        return f"{self.name}{suffix}@{self.setting}"

    @property
    def display(self) -> str:
        extra = f", {self.variant.name}" if self.variant.name else ""
        return f"{self.label}, {self.knobs()}{extra}"

    @property
    def worker_config(self) -> str:
        extra = f" with {self.variant.describe()}" if self.variant.describe() else ""
        return f"`uno-jobs worker --app {APP} --concurrency {self.concurrency}`{extra}, async task"

    def durability(self, facts: ServerFacts) -> str:
        raise NotImplementedError

    @property
    def url(self) -> str:
        raise NotImplementedError

    def wipe(self) -> None:
        """Remove every trace of the previous workload's database."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "UNO_JOBS_DATABASE_URL": self.url,
            "UNO_JOBS_DATA_DIR": str(self.ctx.workdir / "uno-data"),
            "UNO_JOBS_JWT_SECRET": JWT_SECRET,
            **dict(self.variant.env),
        }

    async def reset(self) -> None:
        await self.close()
        self.wipe()
        from benchmarks.systems.uno_tasks import jobs as app
        from uno.jobs import JobSystem

        self._jobs = JobSystem(self.url, registry=app.registry)
        await self._jobs.open()

    async def close(self) -> None:
        if self._jobs is not None:
            await self._jobs.close()
            self._jobs = None

    async def enqueue_one(self, enqueued_at: float) -> None:
        await self._jobs.enqueue("noop", [enqueued_at])

    async def enqueue_bulk(self, stamps: list[float]) -> bool:
        from uno.jobs import JobRequest

        await self._jobs.enqueue_many([JobRequest("noop", [t]) for t in stamps])
        return True

    def worker_argv(self) -> list[str]:
        return [
            *uno_command(),
            "worker",
            "--app",
            APP,
            "--database",
            self.url,
            "--concurrency",
            str(self.concurrency),
            *self.variant.worker_args,
        ]

    async def api_benchmark(
        self, seconds: float, connections: int, seed_jobs: int, work: Workdir
    ) -> dict[str, float]:
        """Start ``uno-jobs serve`` (embedded worker on, scheduler off) over a table of
        ``seed_jobs`` jobs due tomorrow; load it from a separate process."""
        from uno.jobs import JobRequest

        await self.reset()
        for start in range(0, seed_jobs, 10_000):
            size = min(10_000, seed_jobs - start)
            await self._jobs.enqueue_many([JobRequest("noop", [0.0], delay=86_400)] * size)
        await self.close()
        directory = work.fresh(f"{self.name}-api")
        env = {**os.environ, **self.env(), "PYTHONPATH": str(REPO)}
        env.pop("BENCH_RECORD_DIR", None)
        proc = await asyncio.create_subprocess_exec(
            *uno_command(),
            "token",
            "--scope",
            "jobs:read jobs:write",
            "--ttl",
            "36000",
            env=env,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        token = (await proc.communicate())[0].decode().strip()
        port = free_port()
        log_path = directory / "server.log"
        server = start_server(self.url, port, env, log_path, self.concurrency)
        base = f"http://127.0.0.1:{port}/api/v1/jobs"
        try:
            await wait_until_serving(base, token, server, log_path)
            get = await load(base + "?limit=10", "GET", None, token, seconds, connections)
            body = json.dumps({"task_name": "noop", "args": [0.0]})
            post = await load(base, "POST", body, token, seconds, connections)
            # many producers: 4 client processes of 8 connections each, async httpx
            producers = await load(
                base, "POST", body, token, seconds, 32, tool="httpx", processes=4
            )
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
        log(
            f"  {self.name} api via {post['tool']}: POST errors {post['errors']:.0f}, "
            f"GET errors {get['errors']:.0f}"
        )
        return {"post": post["rps"], "get": get["rps"], "post_4proc": producers["rps"]}


def start_server(
    url: str, port: int, env: dict[str, str], log_path: Path, concurrency: int
) -> subprocess.Popen[bytes]:
    """``uno-jobs serve`` with its embedded worker, no scheduler, warnings only."""
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [
                *uno_command(),
                "serve",
                "--app",
                APP,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--database",
                url,
                "--no-scheduler",
                "--concurrency",
                str(concurrency),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_serving(
    url: str, token: str, server: subprocess.Popen[bytes], log_path: Path
) -> None:
    import httpx

    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise BenchError(f"server exited: {tail(log_path)}")
            try:
                response = await client.get(
                    url, params={"limit": 1}, headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code == 200:
                    return
                raise BenchError(f"server answered {response.status_code}: {response.text}")
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise BenchError("server did not answer within 60 s")


async def load(
    url: str,
    method: str,
    body: str | None,
    token: str,
    seconds: float,
    connections: int,
    *,
    tool: str = "auto",
    processes: int = 2,
) -> dict[str, Any]:
    """Run ``benchmarks/api_load.py`` in its own process; its JSON summary."""
    argv = [
        sys.executable,
        str(REPO / "benchmarks" / "api_load.py"),
        "--url",
        url,
        "--method",
        method,
        "--token",
        token,
        "--seconds",
        str(seconds),
        "--connections",
        str(connections),
        "--tool",
        tool,
        "--processes",
        str(processes),
    ]
    if body is not None:
        argv += ["--body", body]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"api_load failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    if result["ok"] == 0:
        raise BenchError(f"no successful {method} request: {result}")
    return result
