"""Real `uno-jobs worker` processes through a store outage that hits them all.

The outage is a write lock on the SQLite file held by the test for longer than
``rescue_after``: every worker's heartbeat waits on it, and after it the stored
beats are all older than ``rescue_after``. Each job must still run once.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from worker_processes import Workers, all_done, system_on, worker_pool

from helpers import eventually
from uno.jobs import JobSystem
from uno.jobs.system import JobRequest

pytestmark = pytest.mark.timeout(90)

#: Longer than rescue_after plus a heartbeat interval (1s and 0.2s in ``Workers.env``),
#: shorter than a job.
OUTAGE = 2.0
JOB_SECONDS = 4.0


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    with worker_pool(tmp_path) as pool:
        yield pool


@pytest.fixture
async def system(workers: Workers) -> AsyncIterator[JobSystem]:
    async with system_on(workers.url) as jobs:
        yield jobs


@pytest.mark.slow
async def test_an_outage_for_every_worker_runs_no_job_twice(
    workers: Workers, system: JobSystem
) -> None:
    first = workers.start("--concurrency", "4")
    second = workers.start("--concurrency", "4")

    async def both_ready() -> bool:
        return all("started:" in workers.output(p) for p in (first, second))

    await eventually(both_ready, timeout=30)
    total = 8
    await system.enqueue_many(
        [JobRequest("record", [f"k{i}"], {"seconds": JOB_SECONDS}) for i in range(total)]
    )

    async def all_started_on_both() -> bool:
        lines = workers.lines()
        return len(lines) == total and {pid for _, _, pid in lines} == {
            str(first.pid),
            str(second.pid),
        }

    await eventually(all_started_on_both, timeout=20)

    # The store is unreachable for writes, for every worker, longer than rescue_after.
    lock = sqlite3.connect(workers.db, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        await asyncio.sleep(OUTAGE)  # the outage itself, not a wait for a condition
        lock.execute("ROLLBACK")
    finally:
        lock.close()

    await eventually(all_done(system, total), timeout=30)
    starts = workers.counts("start")
    assert sorted(starts) == sorted(f"k{i}" for i in range(total))
    assert set(starts.values()) == {1}, f"run twice: {[k for k, n in starts.items() if n > 1]}"
    jobs, _ = await system.list_jobs(limit=total)
    assert [(job.retry_count, job.error) for job in jobs] == [(0, None)] * total
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    assert [first.wait(20), second.wait(20)] == [0, 0]
    for process in (first, second):
        assert "rescued" not in workers.output(process)
