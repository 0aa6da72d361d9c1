"""Real `uno-jobs worker` processes on one SQLite file: kill -9 and rescue,
SIGTERM and a graceful exit, two workers sharing 2,000 jobs, each run exactly once."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from worker_processes import Workers, all_done, count_status, system_on, worker_pool

from helpers import eventually
from uno.jobs import JobSystem, Status
from uno.jobs.system import JobRequest

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    with worker_pool(tmp_path) as pool:
        yield pool


@pytest.fixture
async def system(workers: Workers) -> AsyncIterator[JobSystem]:
    async with system_on(workers.url) as jobs:
        yield jobs


async def enqueue(system: JobSystem, count: int, seconds: float = 0.0) -> None:
    for start in range(0, count, 500):
        await system.enqueue_many(
            [
                JobRequest("record", [f"k{i}"], {"seconds": seconds})
                for i in range(start, min(count, start + 500))
            ]
        )


@pytest.mark.slow
async def test_killed_worker_jobs_are_rescued_and_none_is_lost(
    workers: Workers, system: JobSystem
) -> None:
    total = 30
    await enqueue(system, total, seconds=0.3)
    # No claim-ahead: every job the worker begins is running in the store first (a
    # job started from the buffer is reserved until its start is written, and one
    # killed in that window is rescued as never begun: tests/unit/test_worker_prefetch.py).
    doomed = workers.start("--concurrency", "4", UNO_JOBS_WORKER_PREFETCH="0")

    async def some_started() -> bool:
        return len(workers.counts("start")) >= 6

    await eventually(some_started, timeout=20)
    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait(10) == -signal.SIGKILL
    started_by_doomed = {key for kind, key, pid in workers.lines() if pid == str(doomed.pid)}
    done_by_doomed = {
        key for kind, key, pid in workers.lines() if kind == "done" and pid == str(doomed.pid)
    }
    interrupted = started_by_doomed - done_by_doomed
    assert interrupted, "the kill should land in the middle of jobs"
    # What the dead worker held when it died, as the store says: the jobs it was
    # running, those it had finished with the completion still in flight, and
    # those it had claimed (straight into running) but not begun yet. A rescue
    # counts a failed attempt for each; only those it had begun run twice.
    held = {
        job.args[0]: job.worker_id
        for job in (await system.list_jobs(limit=100, statuses=(Status.RUNNING,)))[0]
    }
    assert interrupted <= set(held)
    assert len(set(held.values())) == 1  # one worker ever ran: the dead one

    rescuer = workers.start("--concurrency", "8")
    await eventually(all_done(system, total), timeout=30)

    starts, dones = workers.counts("start"), workers.counts("done")
    keys = {f"k{i}" for i in range(total)}
    assert set(dones) == keys  # nothing lost
    twice = {key for key, n in starts.items() if n > 1}
    assert twice == set(held) & started_by_doomed  # only jobs the dead worker had begun
    assert all(n <= 2 for n in starts.values())
    final = [await system.get(j.id) for j in (await system.list_jobs(limit=100))[0]]
    assert all(j.status == Status.COMPLETED for j in final)
    attempts_lost = {j.args[0]: j.retry_count for j in final}
    assert attempts_lost == {key: int(key in held) for key in keys}
    rescuer.send_signal(signal.SIGTERM)
    assert rescuer.wait(20) == 0


async def test_sigterm_lets_the_running_job_finish_and_exits_0(
    workers: Workers, system: JobSystem
) -> None:
    await enqueue(system, 1, seconds=1.0)
    process = workers.start("--concurrency", "2")

    async def started() -> bool:
        return bool(workers.counts("start"))

    await eventually(started, timeout=20)
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    assert workers.counts("done") == {"k0": 1}
    assert await count_status(system, Status.COMPLETED) == 1
    output = workers.output(process)
    assert "started: queues=* concurrency=2" in output
    assert "stopped" in output


@pytest.mark.slow
async def test_two_workers_drain_2000_jobs_each_run_exactly_once(
    workers: Workers, system: JobSystem
) -> None:
    total = 2000
    first = workers.start("--concurrency", "20")
    second = workers.start("--concurrency", "20")

    async def both_ready() -> bool:
        return all("started:" in workers.output(p) for p in (first, second))

    await eventually(both_ready, timeout=30)
    await enqueue(system, total)
    await eventually(all_done(system, total), timeout=60, interval=0.1)
    starts = workers.counts("start")
    assert len(starts) == total
    assert set(starts.values()) == {1}
    pids = {pid for _kind, _key, pid in workers.lines()}
    assert pids == {str(first.pid), str(second.pid)}  # both took a share
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    assert [first.wait(20), second.wait(20)] == [0, 0]


def test_migrate_command_creates_the_schema(tmp_path: Path) -> None:
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "fresh.db"
    result = subprocess.run(
        [sys.executable, "-m", "uno.jobs.cli", "migrate", "--database", f"sqlite:///{db}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "UNO_JOBS_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.returncode == 0, result.stderr
    assert "schema created" in result.stdout  # on an empty database (docs/cli.md)
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"jobs", "workers", "queues"} <= tables
