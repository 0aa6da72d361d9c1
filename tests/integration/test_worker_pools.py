"""Process-pool tasks: run in a child process, and a timed-out child is killed."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import tasks_for_tests

from uno.jobs import JobSystem, ManualClock, Status
from uno.jobs.store.base import Store
from uno.jobs.testing import perform
from uno.jobs.worker import Worker


@pytest.fixture
async def system(store: Store, clock: ManualClock) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock)
    jobs.include(tasks_for_tests.jobs)
    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


async def test_process_task_runs_in_a_child_process(system: JobSystem) -> None:
    jobs = [await system.enqueue("cpu_bound", [n]) for n in (10, 1000, 20000)]
    async with Worker(system, concurrency=2) as worker:
        assert await worker.run_once() == 2
        assert await worker.run_once() == 1
    results = [(await system.get(j.id)).result for j in jobs]
    assert [r["sum"] for r in results] == [sum(i * i for i in range(n)) for n in (10, 1000, 20000)]
    assert all(r["pid"] != os.getpid() for r in results)


async def test_process_task_timeout_kills_the_child_and_the_pool_goes_on(
    system: JobSystem,
) -> None:
    stuck = await system.enqueue("cpu_forever")
    async with Worker(system, concurrency=1) as worker:
        assert await worker.run_once() == 1
        after = await system.enqueue("cpu_bound", [100])
        assert await worker.run_once() == 1
    timed_out = await system.get(stuck.id)
    assert timed_out.status == Status.TIMEOUT
    assert (await system.get(after.id)).status == Status.COMPLETED


async def test_perform_runs_a_process_task_in_a_child_and_kills_it_at_its_timeout(
    system: JobSystem,
) -> None:
    """``perform`` goes through the worker's executor, process pool included."""
    result = await perform(system, "cpu_bound", 100)
    assert result["sum"] == sum(i * i for i in range(100))
    assert result["pid"] != os.getpid()
    with pytest.raises(TimeoutError, match=r"timeout of 0\.5 seconds"):
        await perform(system, "cpu_forever")
