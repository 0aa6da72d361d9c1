"""Stopping, heartbeats and rescue of a worker in this process, on every backend."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from uno.jobs import JobSystem, ManualClock, Settings, Status
from uno.jobs.store.base import Store
from uno.jobs.worker import Worker


@pytest.fixture
async def system(store: Store, clock: ManualClock) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock, settings=Settings(concurrency=2))

    @jobs.task(max_retries=2, retry_delay=0)
    async def nap(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


async def one_started(worker: Worker) -> None:
    """Until the worker has launched a job (claimed as running in the store)."""
    await worker.progress.until(lambda progress: progress.started >= 1)


async def test_stop_lets_running_jobs_finish_within_the_grace_period(system: JobSystem) -> None:
    job = await system.enqueue("nap", [0.3])
    worker = Worker(system, worker_id="w1")
    task = asyncio.create_task(worker.run())
    await one_started(worker)
    await worker.stop(grace=10)
    await task
    done = await system.get(job.id)
    assert (done.status, done.result) == (Status.COMPLETED, 0.3)


async def test_stop_hands_back_what_outlives_the_grace_period(system: JobSystem) -> None:
    slow = await system.enqueue("nap", [30])
    worker = Worker(system, worker_id="w1")
    task = asyncio.create_task(worker.run())
    await one_started(worker)
    await worker.stop(grace=0.1)
    await task
    back = await system.get(slow.id)
    assert (back.status, back.worker_id, back.retry_count) == (Status.PENDING, None, 0)
    assert worker.processed == 0


async def test_the_worker_s_counts_reach_its_row_by_its_beats_and_its_stop(
    system: JobSystem,
) -> None:
    """Outcome statements leave the worker's row alone: a beat writes the counts since
    it registered, the stop the final ones, and a worker registered again starts at 0."""

    @system.task(max_retries=0)
    async def boom() -> None:
        raise ValueError("no")

    await system.enqueue("nap", [0])
    await system.enqueue("boom")
    worker = Worker(system, worker_id="w1")
    await worker.run(until_empty=True)
    stored = await system.store.get_worker("w1")
    assert stored is not None and (stored.processed, stored.failed) == (2, 1)

    await system.enqueue("nap", [0])
    async with worker:  # registered again: its row starts at 0, and so do its counts
        assert await worker.run_once() == 1
        await worker.heartbeat.beat()
        stored = await system.store.get_worker("w1")
        assert stored is not None and (stored.processed, stored.failed) == (1, 0)
    assert (worker.progress.processed, worker.progress.failed) == (3, 1)


async def test_a_stopping_worker_claims_nothing_more(system: JobSystem) -> None:
    slow = await system.enqueue("nap", [0.3])
    worker = Worker(system, worker_id="w1")  # two slots: one stays free
    task = asyncio.create_task(worker.run())
    await one_started(worker)
    worker.request_stop(grace=10)
    queued = await system.enqueue("nap", [0])
    await task
    assert (await system.get(slow.id)).status == Status.COMPLETED
    left = await system.get(queued.id)
    assert (left.status, left.worker_id, left.started_at) == (Status.PENDING, None, None)
    assert worker.progress.started == 1


async def test_signal_asks_for_a_graceful_stop(system: JobSystem) -> None:
    job = await system.enqueue("nap", [0.2])
    worker = Worker(system, worker_id="w1", shutdown_grace=10)
    task = asyncio.create_task(worker.run())
    worker.install_signal_handlers()
    try:
        await one_started(worker)
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(task, 10)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().remove_signal_handler(sig)
    assert (await system.get(job.id)).status == Status.COMPLETED


async def test_jobs_of_a_silent_worker_are_rescued(
    system: JobSystem, store: Store, clock: ManualClock
) -> None:
    lost = await system.enqueue("nap", [0])
    await store.register_worker("dead", "elsewhere", 1, None, clock.now())
    await store.fetch_jobs("dead", None, 1, clock.now())
    await store.start_jobs([lost.id], "dead", clock.now())
    async with Worker(system, worker_id="alive", rescue_after=30) as worker:
        assert await worker.heartbeat.rescue() == []  # "dead" beat just now
        for _ in range(3):  # "alive" beats for 30s while "dead" stays silent
            clock.advance(10)
            await worker.heartbeat.beat()
        clock.advance(1)
        await worker.heartbeat.beat()
        rescued = await worker.heartbeat.rescue()
        assert [r.job_id for r in rescued] == [lost.id]
        assert await worker.run_once() == 1
    done = await system.get(lost.id)
    assert (done.status, done.retry_count) == (Status.COMPLETED, 1)
    assert done.worker_id == "alive"


async def test_worker_registers_and_leaves(
    system: JobSystem, store: Store, clock: ManualClock
) -> None:
    """Registered, its jobs are not orphans; gone, they are (a rescue takes them)."""
    held = await system.enqueue("nap", [0])
    window = timedelta(seconds=30)
    async with Worker(system, worker_id="w1"):
        await store.fetch_jobs("w1", None, 1, clock.now(), running=1)
        assert await store.rescue_jobs(clock.now() - window, clock.now()) == []
    rescued = await store.rescue_jobs(clock.now() - window, clock.now())
    assert [(r.job_id, r.status) for r in rescued] == [(held.id, Status.RETRYING)]
