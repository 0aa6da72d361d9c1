"""The worker's claim-ahead buffer, on every backend: bounded, started as slots free,
handed back on stop, dropped on cancel, never ahead of priorities by more than its
size, and empty while jobs are long.

A worker claims ahead only once it has seen how long its jobs take: each test
first runs one quick job (``warmed``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from helpers import eventually
from uno.jobs import JobSystem, ManualClock, Priority, Settings, Status
from uno.jobs.jobs import Job
from uno.jobs.queries import JobFilter
from uno.jobs.store.base import Store
from uno.jobs.system import JobRequest
from uno.jobs.worker import Worker


class Gates:
    """Jobs of the ``gated`` task wait on their gate; ``calls`` tells who began."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._gates: dict[str, asyncio.Event] = {}

    def gate(self, name: str) -> asyncio.Event:
        return self._gates.setdefault(name, asyncio.Event())

    def open(self, *names: str) -> None:
        for name in names:
            self.gate(name).set()


@pytest.fixture
def gates() -> Gates:
    return Gates()


@pytest.fixture
async def system(store: Store, clock: ManualClock, gates: Gates) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock, settings=Settings(concurrency=2))

    @jobs.task(max_retries=0)
    async def quick() -> None:
        return None

    @jobs.task(max_retries=0)
    async def gated(name: str) -> str:
        gates.calls.append(name)
        await gates.gate(name).wait()
        return name

    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


async def enqueue(system: JobSystem, *names: str, **options: Any) -> list[Job]:
    """One insert: a worker waiting for work sees them all at once."""
    return await system.enqueue_many([JobRequest("gated", [name], **options) for name in names])


async def statuses(system: JobSystem, jobs: list[Job]) -> list[Status]:
    return [(await system.get(job.id)).status for job in jobs]


async def until_statuses(system: JobSystem, jobs: list[Job], expected: list[Status]) -> None:
    async def reached() -> bool:
        return await statuses(system, jobs) == expected

    await eventually(reached, what=f"statuses {expected}")


async def started(worker: Worker, count: int) -> None:
    """Until ``count`` gated jobs have been launched (after the warm-up's one)."""
    await worker.progress.until(lambda progress: progress.started >= count + 1)


async def warmed(system: JobSystem, worker: Worker) -> asyncio.Task[None]:
    """Run ``worker`` until one quick job is done: it then claims ahead for short jobs."""
    await system.enqueue("quick")
    task = asyncio.create_task(worker.run())
    await worker.progress.until(lambda progress: progress.written >= 1)
    return task


async def test_the_buffer_holds_at_most_prefetch_reserved_jobs(system: JobSystem) -> None:
    worker = Worker(system, concurrency=2, prefetch=3)
    task = await warmed(system, worker)
    jobs = await enqueue(system, *"abcdefg")
    try:
        await started(worker, 2)
        running, reserved, pending = Status.RUNNING, Status.RESERVED, Status.PENDING
        assert await statuses(system, jobs) == [running] * 2 + [reserved] * 3 + [pending] * 2
    finally:
        await worker.stop(grace=0)
        await task


async def test_no_buffer_when_prefetch_is_0(system: JobSystem, gates: Gates) -> None:
    worker = Worker(system, concurrency=2, prefetch=0)
    task = await warmed(system, worker)
    jobs = await enqueue(system, *"abcd")
    try:
        await started(worker, 2)
        running, pending = Status.RUNNING, Status.PENDING
        assert await statuses(system, jobs) == [running] * 2 + [pending] * 2
        gates.open(*"abcd")
        await until_statuses(system, jobs, [Status.COMPLETED] * 4)
    finally:
        await worker.stop()
        await task


async def test_a_freed_slot_starts_a_buffered_job_and_the_store_is_told(
    system: JobSystem, gates: Gates
) -> None:
    worker = Worker(system, concurrency=1, prefetch=1)
    task = await warmed(system, worker)
    a, b = await enqueue(system, "a", "b")
    try:
        await started(worker, 1)
        assert await statuses(system, [a, b]) == [Status.RUNNING, Status.RESERVED]
        gates.open("a")
        await started(worker, 2)
        assert gates.calls == ["a", "b"]
        # Its start is written at the loop's next turn; a's outcome goes alongside.
        await until_statuses(system, [a, b], [Status.COMPLETED, Status.RUNNING])
        gates.open("b")
        await until_statuses(system, [a, b], [Status.COMPLETED] * 2)
    finally:
        await worker.stop()
        await task
    assert (await system.get(b.id)).started_at is not None


async def test_stop_hands_buffered_jobs_back_without_counting_an_attempt(
    system: JobSystem, gates: Gates
) -> None:
    worker = Worker(system, concurrency=1, prefetch=2)
    task = await warmed(system, worker)
    jobs = await enqueue(system, *"abc")
    await started(worker, 1)
    worker.request_stop(grace=10)
    gates.open("a")
    await task
    assert gates.calls == ["a"]
    assert await statuses(system, jobs) == [Status.COMPLETED, Status.PENDING, Status.PENDING]
    for job in jobs[1:]:
        back = await system.get(job.id)
        assert (back.worker_id, back.retry_count, back.started_at) == (None, 0, None)
        assert await system.store.list_attempts(job.id) == []


async def test_a_dead_workers_buffered_jobs_are_rescued_as_never_started(
    system: JobSystem, clock: ManualClock
) -> None:
    """A max_retries=0 job claimed ahead by a worker that dies is pending again,
    not failed: a reserved job's attempt never began."""
    worker = Worker(system, concurrency=1, prefetch=2, worker_id="doomed")
    task = await warmed(system, worker)
    jobs = await enqueue(system, *"abc")
    await started(worker, 1)
    task.cancel()  # dies without a word: nothing handed back
    await asyncio.gather(task, return_exceptions=True)
    assert await statuses(system, jobs) == [Status.RUNNING, Status.RESERVED, Status.RESERVED]
    now = clock.advance(3600)
    await system.store.rescue_jobs(now - timedelta(seconds=60), now)
    assert await statuses(system, jobs) == [Status.FAILED, Status.PENDING, Status.PENDING]
    assert [(await system.get(job.id)).retry_count for job in jobs[1:]] == [0, 0]


async def test_a_cancelled_buffered_job_never_starts(system: JobSystem, gates: Gates) -> None:
    worker = Worker(system, concurrency=1, prefetch=2)
    task = await warmed(system, worker)
    a, b, c = await enqueue(system, "a", "b", "c")
    try:
        await started(worker, 1)
        await listening(system)
        await system.cancel(b.id, "not needed")
        await eventually(lambda: _buffered(worker, [c.id]), what="b dropped from the buffer")
        gates.open("a", "c")
        await until_statuses(system, [a, c], [Status.COMPLETED] * 2)
    finally:
        await worker.stop()
        await task
    assert gates.calls == ["a", "c"]
    assert (await system.get(b.id)).status is Status.CANCELLED


async def listening(system: JobSystem) -> None:
    """PostgreSQL: until the worker's LISTEN is in place (a NOTIFY before it is lost)."""
    listening = getattr(system.store, "listening", None)
    if listening is not None:
        assert await listening()


async def _buffered(worker: Worker, expected: list[str]) -> bool:
    return worker._producer.buffered_ids() == expected


async def test_a_buffered_job_whose_start_is_refused_is_stopped(
    system: JobSystem, gates: Gates
) -> None:
    """A bulk cancel tells no worker: the job may begin from the buffer, and is
    stopped when the store refuses its start."""
    worker = Worker(system, concurrency=1, prefetch=1)
    task = await warmed(system, worker)
    a, b = await enqueue(system, "a", "b")
    try:
        await started(worker, 1)
        now = system.clock.now()
        reserved = JobFilter(statuses=(Status.RESERVED,))
        assert await system.store.cancel_matching(reserved, None, 10, now) == 1
        gates.open("a")
        await worker.progress.until(lambda progress: progress.cancelled_running == 1)
    finally:
        await worker.stop()
        await task
    assert (await system.get(a.id)).status is Status.COMPLETED
    stopped = await system.get(b.id)
    assert (stopped.status, stopped.result) == (Status.CANCELLED, None)


async def test_a_higher_priority_job_waits_at_most_for_the_buffer(
    system: JobSystem, gates: Gates
) -> None:
    worker = Worker(system, concurrency=1, prefetch=2)
    task = await warmed(system, worker)
    first = await enqueue(system, *"abcd", priority=Priority.LOW)
    try:
        await started(worker, 1)
        (urgent,) = await enqueue(system, "urgent", priority=Priority.CRITICAL)
        gates.open(*"abcd", "urgent")
        await until_statuses(system, [*first, urgent], [Status.COMPLETED] * 5)
    finally:
        await worker.stop()
        await task
    # a ran, b and c were buffered: urgent comes right after them, before d.
    assert gates.calls == ["a", "b", "c", "urgent", "d"]


def test_prefetch_is_bounded(system: JobSystem) -> None:
    bound = system.settings.limits.max_worker_prefetch
    assert Worker(system, prefetch=bound).prefetch == bound
    assert Worker(system).prefetch == system.settings.worker_prefetch
    for bad in (-1, bound + 1):
        with pytest.raises(ValueError, match="prefetch"):
            Worker(system, prefetch=bad)


def test_prefetch_comes_from_the_environment() -> None:
    assert Settings.from_env({"UNO_JOBS_WORKER_PREFETCH": "3"}).worker_prefetch == 3
    assert Settings.from_env({}).worker_prefetch == Settings().worker_prefetch


async def test_long_jobs_are_not_claimed_ahead(system: JobSystem) -> None:
    """Jobs that take longer than the buffer's horizon stay pending for other workers."""
    worker = Worker(system, concurrency=2, prefetch=5)
    worker._producer.mean_duration = 1.0  # seconds: as if its jobs were long
    jobs = await enqueue(system, *"abcd")
    task = asyncio.create_task(worker.run())
    try:
        await worker.progress.until(lambda progress: progress.started >= 2)
        running, pending = Status.RUNNING, Status.PENDING
        assert await statuses(system, jobs) == [running] * 2 + [pending] * 2
    finally:
        await worker.stop(grace=0)
        await task


def test_the_buffer_shrinks_as_jobs_get_longer(system: JobSystem) -> None:
    producer = Worker(system, concurrency=10, prefetch=20)._producer
    assert producer.buffer_target() == 0  # no job seen yet
    targets = []
    for seconds in (0.0001, 0.025, 0.05, 0.1, 1.0):
        producer.mean_duration = seconds
        targets.append(producer.buffer_target())
    assert targets == [20, 20, 10, 5, 0]
    assert Worker(system, prefetch=0)._producer.buffer_target() == 0
