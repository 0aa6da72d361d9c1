"""Bulk enqueues: jobs built while the store streams them in, still all-or-nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from uno.jobs import DuplicateJob, JobRequest, JobSystem, ManualClock, Status, ValidationError
from uno.jobs.group_commit import MAX_GROUPED
from uno.jobs.job_batch import JobBatch
from uno.jobs.jobs import Job
from uno.jobs.store import JobFilter
from uno.jobs.store.base import Store

BIG = MAX_GROUPED * 3


@pytest.fixture
async def system(store: Store, clock: ManualClock) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock)

    @jobs.task()
    async def echo(value: Any) -> Any:
        return value

    await jobs.open()
    yield jobs
    await jobs.close()


async def count(store: Store) -> int:
    _, total = await store.list_jobs(JobFilter(limit=1))
    return total


async def test_a_big_batch_is_stored_whole_and_in_order(system: JobSystem, store: Store) -> None:
    jobs = await system.enqueue_many([JobRequest("echo", [i]) for i in range(BIG)])
    assert [job.args for job in jobs] == [[i] for i in range(BIG)]
    assert len({job.id for job in jobs}) == BIG
    stored = {job.id: job for job in await store.get_jobs([job.id for job in jobs])}
    assert all(stored[job.id] == job for job in jobs)
    assert all(job.status is Status.PENDING for job in stored.values())


async def test_a_bad_request_midway_leaves_nothing_behind(system: JobSystem, store: Store) -> None:
    requests = [JobRequest("echo", [i]) for i in range(BIG)]
    requests[BIG // 2] = JobRequest("echo", [{1, 2}])  # a set is not JSON
    with pytest.raises(ValidationError, match="args"):
        await system.enqueue_many(requests)
    assert await count(store) == 0
    # The aborted insert left the store usable.
    await system.enqueue_many([JobRequest("echo", [i]) for i in range(BIG)])
    assert await count(store) == BIG


async def test_a_duplicate_midway_leaves_nothing_behind(system: JobSystem, store: Store) -> None:
    await system.enqueue("echo", [0], job_id="taken")
    requests = [JobRequest("echo", [i]) for i in range(BIG)]
    requests[BIG - 1] = JobRequest("echo", [1], job_id="taken")
    with pytest.raises(DuplicateJob):
        await system.enqueue_many(requests)
    assert await count(store) == 1


def test_a_job_batch_builds_each_job_once_when_first_read() -> None:
    built: list[int] = []

    def build(n: int) -> Job:
        built.append(n)
        return Job(task_name="t", args=[n])

    batch = JobBatch(range(10), build)
    assert len(batch) == 10 and built == []
    assert batch[3].args == [3]
    assert built == [0, 1, 2, 3]
    assert [job.args[0] for job in batch] == list(range(10))
    assert batch[-1] is batch.built()[9]
    assert [job.args[0] for job in batch[2:4]] == [2, 3]
    assert built == list(range(10))
    with pytest.raises(IndexError):
        batch[10]
