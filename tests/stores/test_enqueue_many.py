"""Enqueueing many jobs: concurrent calls share one insert (group commit), and a
bulk call's jobs are built while the store streams them in; every caller's jobs
stay all-or-nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from uno.jobs import DuplicateJob, JobRequest, JobSystem, ManualClock, Status, ValidationError
from uno.jobs.group_commit import MAX_GROUPED
from uno.jobs.job_batch import JobBatch
from uno.jobs.jobs import Job
from uno.jobs.queries import JobFilter
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


def count_inserts(store: Store) -> list[int]:
    """Record the size of every insert_jobs call the store receives."""
    sizes: list[int] = []
    original = store.insert_jobs

    async def counting(jobs: Sequence[Job]) -> None:
        sizes.append(len(jobs))
        await original(jobs)

    store.insert_jobs = counting  # type: ignore[method-assign]
    return sizes


async def test_concurrent_enqueues_share_inserts(system: JobSystem, store: Store) -> None:
    sizes = count_inserts(store)
    jobs = await asyncio.gather(*(system.enqueue("echo", [i]) for i in range(50)))
    assert len({job.id for job in jobs}) == 50
    assert sum(sizes) == 50
    # The first call writes at once; the 49 that arrive meanwhile go together.
    assert len(sizes) < 10, sizes
    stored = await store.get_jobs([job.id for job in jobs])
    assert sorted(job.args[0] for job in stored) == list(range(50))
    assert all(job.status is Status.PENDING for job in stored)


async def test_a_lone_enqueue_is_written_at_once(system: JobSystem, store: Store) -> None:
    sizes = count_inserts(store)
    job = await system.enqueue("echo", [1])
    assert sizes == [1]
    assert (await store.get_job(job.id)) is not None


async def test_a_duplicate_fails_only_its_own_caller(system: JobSystem, store: Store) -> None:
    await system.enqueue("echo", [0], job_id="taken")
    results = await asyncio.gather(
        system.enqueue("echo", [1]),
        system.enqueue("echo", [2]),
        system.enqueue("echo", [3], job_id="taken"),
        system.enqueue("echo", [4]),
        return_exceptions=True,
    )
    assert isinstance(results[2], DuplicateJob)
    written = [r for r in results if not isinstance(r, BaseException)]
    assert len(written) == 3
    stored = await store.get_jobs([job.id for job in written])
    assert sorted(job.args[0] for job in stored) == [1, 2, 4]
    original = await store.get_job("taken")
    assert original is not None and original.args == [0]


async def test_a_grouped_enqueue_many_stays_all_or_nothing(system: JobSystem, store: Store) -> None:
    await system.enqueue("echo", [0], job_id="taken")
    results = await asyncio.gather(
        system.enqueue("echo", [1]),
        system.enqueue_many([JobRequest("echo", [2]), JobRequest("echo", [3], job_id="taken")]),
        system.enqueue("echo", [4]),
        return_exceptions=True,
    )
    assert isinstance(results[1], DuplicateJob)
    page, total = await store.list_jobs(JobFilter(limit=100))
    assert sorted(job.args[0] for job in page) == [0, 1, 4]
    assert total == 3


# -- bulk ----------------------------------------------------------------------
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
