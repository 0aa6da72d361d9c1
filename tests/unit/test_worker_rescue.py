"""Rescue takes only dead workers' jobs, on every backend.

Heartbeats run on a ManualClock, stepped by the test; an outage is a store
wrapper whose calls raise ``StoreUnavailable`` while it is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from helpers import make_job
from uno.jobs import JobSystem, ManualClock, Settings, Status
from uno.jobs.errors import StoreUnavailable
from uno.jobs.store.base import RescuedJob, Store
from uno.jobs.worker import Worker
from uno.jobs.worker.heartbeat import Heartbeat
from uno.jobs.workers import WorkerCounts

INTERVAL = 5.0
RESCUE_AFTER = 30.0


class Reachable:
    """One worker's way to the store; ``down`` makes its heartbeats and rescues fail."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False

    async def heartbeat(
        self, worker_id: str, now: datetime, *, counts: WorkerCounts | None = None
    ) -> None:
        if self.down:
            raise StoreUnavailable("connection refused")
        await self.store.heartbeat(worker_id, now, counts=counts)

    async def rescue_jobs(self, stale_before: datetime, now: datetime) -> list[RescuedJob]:
        if self.down:
            raise StoreUnavailable("connection refused")
        return await self.store.rescue_jobs(stale_before, now)


class Beating:
    """A worker's heartbeat, stepped by hand."""

    def __init__(self, store: Store, clock: ManualClock, worker_id: str) -> None:
        self.link = Reachable(store)
        self.heartbeat = Heartbeat(
            self.link,  # type: ignore[arg-type]
            clock,
            worker_id,
            INTERVAL,
            RESCUE_AFTER,
        )

    async def tick(self) -> list[RescuedJob]:
        """One turn of ``Heartbeat.run``: beat, then rescue; a failure ends the turn."""
        try:
            await self.heartbeat.beat()
            return await self.heartbeat.rescue()
        except StoreUnavailable:
            return []


async def hold_running_job(store: Store, clock: ManualClock, worker_id: str) -> str:
    job = make_job(max_retries=3)
    await store.insert_jobs([job])
    await store.register_worker(worker_id, "host", 1, None, clock.now())
    (held,) = await store.fetch_jobs(worker_id, None, 1, clock.now(), running=1)
    return held.id


async def test_a_shared_outage_does_not_make_the_first_worker_back_take_live_jobs(
    store: Store, clock: ManualClock
) -> None:
    first, other = Beating(store, clock, "first"), Beating(store, clock, "other")
    job_id = await hold_running_job(store, clock, "other")
    for worker in (first, other):
        await worker.tick()

    # The store is unreachable for both, far longer than rescue_after.
    first.link.down = other.link.down = True
    for _ in range(12):
        clock.advance(INTERVAL)
        assert await first.tick() == []
        assert await other.tick() == []

    # "first" is back a little before "other", whose beats are still failing.
    first.link.down = False
    clock.advance(INTERVAL)
    assert await first.tick() == []
    clock.advance(INTERVAL)
    assert await first.tick() == []
    other.link.down = False
    for _ in range(12):  # both beat again: nobody is silent, nothing is taken
        clock.advance(INTERVAL)
        assert await other.tick() == []
        assert await first.tick() == []
    running = await store.get_job(job_id)
    assert running is not None and (running.status, running.worker_id) == (
        Status.RUNNING,
        "other",
    )

    # Now "other" really stops: "first" takes its job once it has watched it stay
    # silent for rescue_after while beating itself, and not before.
    silent_since = clock.now()
    rescued: list[RescuedJob] = []
    while not rescued:
        clock.advance(INTERVAL)
        rescued = await first.tick()
        if not rescued:
            assert (clock.now() - silent_since).total_seconds() <= RESCUE_AFTER
    assert rescued == [RescuedJob(job_id, Status.RETRYING)]
    assert (clock.now() - silent_since).total_seconds() == RESCUE_AFTER + INTERVAL


async def test_a_pause_of_every_worker_is_not_taken_for_a_death(
    store: Store, clock: ManualClock
) -> None:
    """A host (or VM) paused for a minute: no beat fails, but none happens either."""
    first, other = Beating(store, clock, "first"), Beating(store, clock, "other")
    job_id = await hold_running_job(store, clock, "other")
    for _ in range(10):
        clock.advance(INTERVAL)
        assert await first.tick() == []
        assert await other.tick() == []
    clock.advance(60)  # both paused
    assert await first.tick() == []  # "first" resumes first and beats
    clock.advance(1)
    assert await other.tick() == []
    for _ in range(10):
        clock.advance(INTERVAL)
        assert await first.tick() == []
        assert await other.tick() == []
    job = await store.get_job(job_id)
    assert job is not None and job.status == Status.RUNNING


async def test_a_worker_that_just_started_rescues_nothing_yet(
    store: Store, clock: ManualClock
) -> None:
    job_id = await hold_running_job(store, clock, "dead")
    clock.advance(120)
    newcomer = Beating(store, clock, "newcomer")
    assert await newcomer.tick() == []  # it has no evidence yet that "dead" is
    for _ in range(int(RESCUE_AFTER / INTERVAL) - 1):
        clock.advance(INTERVAL)
        assert await newcomer.tick() == []
    clock.advance(INTERVAL)
    assert await newcomer.tick() == [RescuedJob(job_id, Status.RETRYING)]


@pytest.fixture
def gate() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
async def system(store: Store, clock: ManualClock, gate: asyncio.Event) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock, settings=Settings(concurrency=2))

    @jobs.task(max_retries=2)
    async def wait_for_gate() -> str:
        await gate.wait()
        return "done"

    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


async def test_a_refused_completion_is_logged_at_warning_with_the_job_id(
    system: JobSystem,
    store: Store,
    clock: ManualClock,
    gate: asyncio.Event,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = await system.enqueue("wait_for_gate")
    async with Worker(system, worker_id="slow") as worker:
        running = asyncio.create_task(worker.run_once())
        await worker.progress.until(lambda progress: progress.started == 1)
        # Another worker took "slow" for dead and rescued the job meanwhile.
        now = clock.advance(60)
        assert await store.rescue_jobs(now, now) == [RescuedJob(job.id, Status.RETRYING)]
        with caplog.at_level(logging.WARNING, logger="uno.jobs.worker"):
            gate.set()
            assert await running == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(job.id in message and "rescued" in message for message in warnings), warnings
    after = await store.get_job(job.id)
    assert after is not None and after.status == Status.RETRYING
