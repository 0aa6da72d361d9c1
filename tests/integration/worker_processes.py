"""Real `uno-jobs worker` processes on a SQLite file, and their side-effect log.

Imported by the integration tests (not a conftest, so that ``conftest`` keeps
naming the suite-wide one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from uno.jobs import JobSystem, Status
from uno.jobs.queries import JobFilter

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"


class Workers:
    """Starts worker processes on one database; kills leftovers at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "jobs.db"
        self.url = f"sqlite:///{self.db}"
        self.log = tmp_path / "side-effects.log"
        self.log.touch()
        self.processes: list[subprocess.Popen[str]] = []
        self.tmp_path = tmp_path

    def env(self, **extra: str) -> dict[str, str]:
        path = os.pathsep.join([str(HERE), str(SRC), os.environ.get("PYTHONPATH", "")])
        return {
            **os.environ,
            "PYTHONPATH": path,
            "UNO_JOBS_DATABASE_URL": self.url,
            "UNO_TEST_LOG": str(self.log),
            "UNO_JOBS_HEARTBEAT_INTERVAL": "0.2",
            "UNO_JOBS_RESCUE_AFTER": "1",
            "UNO_JOBS_SHUTDOWN_GRACE": "10",
            **extra,
        }

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        out = open(self.tmp_path / f"worker-{len(self.processes)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "uno.jobs.cli", "worker", "--app", "tasks_for_tests", *args],
            env=self.env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        out.close()
        self.processes.append(process)
        return process

    def output(self, process: subprocess.Popen[str]) -> str:
        index = self.processes.index(process)
        return (self.tmp_path / f"worker-{index}.log").read_text()

    def lines(self) -> list[list[str]]:
        return [line.split() for line in self.log.read_text().splitlines()]

    def counts(self, kind: str) -> Counter[str]:
        return Counter(key for k, key, _pid in self.lines() if k == kind)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@contextmanager
def worker_pool(tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


@asynccontextmanager
async def system_on(url: str) -> AsyncIterator[JobSystem]:
    """The test's own view of the database the worker processes use."""
    import tasks_for_tests

    jobs = JobSystem(url)
    jobs.include(tasks_for_tests.jobs)
    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


async def count_status(system: JobSystem, status: Status) -> int:
    return (await system.list_jobs(JobFilter(statuses=(status,), limit=1)))[1]


def all_done(system: JobSystem, total: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await count_status(system, Status.COMPLETED) == total

    return check
