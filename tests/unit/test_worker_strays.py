"""A live worker hands back jobs it holds but never started, on every backend.

A claim whose answer is lost (the connection drops after the server claimed)
leaves jobs held by a worker that keeps beating: no rescue would take them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from uno.jobs import JobSystem, ManualClock, Status
from uno.jobs.errors import StoreUnavailable
from uno.jobs.store.base import Store
from uno.jobs.worker import Worker


@pytest.fixture
async def system(store: Store, clock: ManualClock) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock)

    @jobs.task(max_retries=0)
    async def note(n: int) -> int:
        return n

    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


def lose_first_claim_answer(store: Store) -> list[list[str]]:
    """Make the store's next non-empty claim raise after claiming; the ids it lost."""
    lost: list[list[str]] = []
    claim = store.fetch_jobs

    async def fetch_jobs(*args: Any, **kwargs: Any) -> Any:
        found = await claim(*args, **kwargs)
        if found and not lost:
            lost.append([job.id for job in found])
            raise StoreUnavailable("the connection dropped before the answer arrived")
        return found

    store.fetch_jobs = fetch_jobs  # type: ignore[method-assign]
    return lost


async def test_jobs_claimed_by_a_lost_answer_are_handed_back_and_run(
    system: JobSystem, store: Store
) -> None:
    jobs = [await system.enqueue("note", [n]) for n in range(3)]
    lost = lose_first_claim_answer(store)
    worker = Worker(system, worker_id="w1", concurrency=10)
    running = asyncio.create_task(worker.run())
    try:
        await worker.progress.until(lambda progress: progress.written == 3)
    finally:
        await worker.stop()
        await running
    assert sorted(lost[0]) == sorted(job.id for job in jobs)
    done = [await system.get(job.id) for job in jobs]
    assert [(j.status, j.result, j.retry_count) for j in done] == [
        (Status.COMPLETED, n, 0) for n in range(3)
    ]
    assert worker.processed == 3
