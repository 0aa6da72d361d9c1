"""A real `uno-jobs worker` process settles a job whose retry time is out of range.

The job is written straight to the store, as a client of an older version (or a
hand-edited row) could leave it: the domain would refuse its ``retry_delay``.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from worker_processes import Workers, system_on, worker_pool

from helpers import eventually
from uno.jobs import JobSystem, Status
from uno.jobs.clock import utcnow
from uno.jobs.jobs import Job
from uno.jobs.limits import Limits

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    with worker_pool(tmp_path) as pool:
        yield pool


@pytest.fixture
async def system(workers: Workers) -> AsyncIterator[JobSystem]:
    async with system_on(workers.url) as jobs:
        yield jobs


async def test_a_retry_time_out_of_range_leaves_no_job_running(
    workers: Workers, system: JobSystem
) -> None:
    now = utcnow()
    huge = Job(task_name="fail", max_retries=1, retry_delay=1e12, created_at=now, scheduled_at=now)
    await system.store.insert_jobs([huge])
    worker = workers.start("--concurrency", "2")

    async def settled() -> Job | None:
        job = await system.get(huge.id)
        return job if job.status not in (Status.PENDING, Status.RUNNING) else None

    job = await eventually(settled, timeout=20)
    assert job.status == Status.RETRYING
    assert job.error is not None and job.error.type == "ValueError"
    assert job.scheduled_at is not None
    waits = (job.scheduled_at - now).total_seconds()
    assert Limits().max_retry_delay <= waits < Limits().max_retry_delay + 60

    # The worker is not wedged: the next job runs.
    after = await system.enqueue("record", ["after"])

    async def completed() -> bool:
        return (await system.get(after.id)).status == Status.COMPLETED

    await eventually(completed, timeout=20)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0
