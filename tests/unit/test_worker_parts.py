"""The worker's parts alone: the executor judging endings, the completer's flush
policies and its overlap with a claim, and the progress awaitables."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from helpers import make_job
from uno.jobs import Cancel, JobSystem, ManualClock, Retry, Settings, Status
from uno.jobs.events import EventHub
from uno.jobs.jobs import Job, JobError
from uno.jobs.limits import DEFAULT_LIMITS
from uno.jobs.store.base import Completion, Failure
from uno.jobs.worker.completer import Completer, FlushPolicy
from uno.jobs.worker.executor import Attempt, Executor
from uno.jobs.worker.outcome_log import Outcome
from uno.jobs.worker.progress import Progress


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def system(clock: ManualClock) -> JobSystem:
    """Tasks only: nothing here touches a store."""
    jobs = JobSystem(clock=clock, settings=Settings())

    @jobs.task
    async def echo(value: Any) -> Any:
        return value

    @jobs.task
    def boom() -> None:
        raise ValueError("boom")

    @jobs.task
    async def asks_retry() -> None:
        raise Retry(7)

    @jobs.task
    async def cancels() -> None:
        raise Cancel("no need")

    @jobs.task
    async def sleeps() -> None:
        await asyncio.sleep(30)

    return jobs


class Ended:
    """Collects what the executor hands on; awaitable per attempt."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[Attempt, Outcome]] = []
        self.event = asyncio.Event()

    def __call__(self, attempt: Attempt, outcome: Outcome, _seconds: float) -> None:
        self.outcomes.append((attempt, outcome))
        self.event.set()

    async def next(self) -> tuple[Attempt, Outcome]:
        async with asyncio.timeout(5):
            while not self.outcomes:
                self.event.clear()
                await self.event.wait()
        return self.outcomes.pop(0)


async def run_one(system: JobSystem, job: Job) -> tuple[Attempt, Outcome]:
    ended = Ended()
    executor = Executor(system.registry, system.clock, DEFAULT_LIMITS, 2, ended)
    try:
        executor.launch(job)
        return await ended.next()
    finally:
        executor.close()


async def test_a_result_is_a_completion_at_the_clocks_time(
    system: JobSystem, clock: ManualClock
) -> None:
    _, outcome = await run_one(system, make_job(task_name="echo", args=[{"a": [1]}]))
    assert outcome == Completion(outcome.job_id, {"a": [1]}, clock.now())


async def test_a_failure_retries_while_retries_remain_then_fails(
    system: JobSystem, clock: ManualClock
) -> None:
    attempt, first = await run_one(system, make_job(task_name="boom", max_retries=1, retry_delay=5))
    assert isinstance(first, Failure) and isinstance(attempt.error, ValueError)
    assert (first.status, first.retry_at) == (Status.RETRYING, clock.now() + timedelta(seconds=5))
    assert (first.error.type, first.error.message) == ("ValueError", "boom")
    _, last = await run_one(system, make_job(task_name="boom", max_retries=1, retry_count=1))
    assert isinstance(last, Failure) and (last.status, last.retry_at) == (Status.FAILED, None)


async def test_retry_cancel_timeout_and_a_missing_task_each_end_their_own_way(
    system: JobSystem, clock: ManualClock
) -> None:
    _, retried = await run_one(system, make_job(task_name="asks_retry", max_retries=3))
    _, cancelled = await run_one(system, make_job(task_name="cancels", max_retries=3))
    _, timed_out = await run_one(system, make_job(task_name="sleeps", timeout=0.05))
    _, missing = await run_one(system, make_job(task_name="nowhere"))
    assert isinstance(retried, Failure) and retried.retry_at == clock.now() + timedelta(seconds=7)
    assert isinstance(cancelled, Failure) and cancelled.status == Status.CANCELLED
    assert isinstance(timed_out, Failure) and timed_out.status == Status.TIMEOUT
    assert isinstance(missing, Failure) and missing.error.type == "TaskNotFound"


async def test_withdraw_stops_waiting_and_hands_on_nothing(system: JobSystem) -> None:
    ended = Ended()
    executor = Executor(system.registry, system.clock, DEFAULT_LIMITS, 2, ended)
    job = make_job(task_name="sleeps")
    executor.launch(job)
    assert list(executor.running) == [job.id]
    assert executor.withdraw() == [job.id]
    await asyncio.sleep(0)  # the cancelled task's callback runs
    assert (executor.running, ended.outcomes) == ({}, [])
    executor.close()


class SlowStore:
    """Records the outcome batches; ``complete_jobs`` waits for ``gate`` when set."""

    def __init__(self) -> None:
        self.completed: list[list[str]] = []
        self.failed: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.writing = asyncio.Event()

    async def complete_jobs(self, worker_id: str, completions: Sequence[Completion]) -> list[str]:
        self.writing.set()
        if self.gate is not None:
            await self.gate.wait()
        self.completed.append([c.job_id for c in completions])
        return []

    async def fail_jobs(self, worker_id: str, failures: Sequence[Failure]) -> list[str]:
        self.failed.append([f.job_id for f in failures])
        return []


def completer(store: SlowStore, clock: ManualClock, policy: FlushPolicy) -> Completer:
    rung: list[None] = []
    return Completer(
        store,  # type: ignore[arg-type]
        "w1",
        clock,
        DEFAULT_LIMITS,
        EventHub(),
        policy,
        lambda: rung.append(None),
        Progress(),
    )


def finish(part: Completer, clock: ManualClock, *, ok: bool = True) -> str:
    job = make_job(task_name="echo")
    attempt = Attempt(job, None, 0.0)
    if ok:
        part.add(attempt, Completion(job.id, 1, clock.now()), 0.0)
    else:
        error = Failure(job.id, JobError("E", "e"), clock.now(), Status.RETRYING, clock.now())
        part.add(attempt, error, 0.0)
    return job.id


def test_inline_is_due_at_once_and_batched_waits_for_half_the_slots(clock: ManualClock) -> None:
    inline = completer(SlowStore(), clock, FlushPolicy.inline())
    finish(inline, clock)
    assert inline.due(running=3)
    batched = completer(SlowStore(), clock, FlushPolicy.batched(4, interval=60))
    finish(batched, clock)
    assert not batched.due(running=3)  # one of two, and young
    assert batched.due(running=0)  # nothing runs: no reason to wait
    finish(batched, clock)
    assert batched.due(running=2)
    assert 0 < (batched.wait_time() or 0) <= 60


async def test_a_flush_writes_one_batch_per_kind_and_says_when_it_wrote_retries(
    clock: ManualClock,
) -> None:
    store = SlowStore()
    part = completer(store, clock, FlushPolicy.inline())
    done = [finish(part, clock), finish(part, clock)]
    retried = finish(part, clock, ok=False)
    assert await part.flush() is True
    assert (store.completed, store.failed) == ([done], [[retried]])
    assert (part.pending, part.progress.written, part.progress.flushes) == (0, 3, 1)
    assert await part.flush() is False  # nothing left: no call
    assert len(store.completed) == 1


async def test_flush_while_claiming_overlaps_the_two_waits(clock: ManualClock) -> None:
    """The claim finishes only once the flush has started, and the flush only once
    the claim has: run one after the other, they would never end."""
    store = SlowStore()
    store.gate = asyncio.Event()
    part = completer(store, clock, FlushPolicy.inline())
    job_id = finish(part, clock)

    async def claim() -> int:
        await store.writing.wait()  # the flush is under way...
        assert store.gate is not None
        store.gate.set()  # ...and may end once the claim has been answered
        return 4

    async with asyncio.timeout(5):
        assert await part.flush_while(claim()) == (4, False)
    assert store.completed == [[job_id]]


async def test_progress_wakes_a_waiter_when_its_condition_holds() -> None:
    progress = Progress()
    waiting = asyncio.create_task(progress.until(lambda p: p.started >= 2))
    flushed = asyncio.create_task(progress.next_flush())
    await asyncio.sleep(0)
    progress.launched(1)
    await asyncio.sleep(0)
    assert not waiting.done()
    progress.launched(1)
    progress.flushed(3)
    await asyncio.wait_for(asyncio.gather(waiting, flushed), 1)
    assert (progress.started, progress.written, progress.flushes) == (2, 3, 1)
    with pytest.raises(TimeoutError):
        await progress.until(lambda p: p.written > 3, timeout=0.01)
