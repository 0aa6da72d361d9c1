"""Concurrent enqueues share store calls, and each caller keeps its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from uno.jobs import DuplicateJob, JobRequest, JobSystem, ManualClock, Status
from uno.jobs.jobs import Job
from uno.jobs.store import JobFilter
from uno.jobs.store.base import Store


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
