"""Every transition of the job state machine happens through the public verbs and
the worker, and illegal ones are refused; bad input to the Python API writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from uno.jobs import (
    IllegalTransition,
    JobSystem,
    ManualClock,
    Settings,
    Status,
    TaskNotFound,
    ValidationError,
)
from uno.jobs.jobs import TRANSITIONS
from uno.jobs.store.base import Store
from uno.jobs.worker import Worker

seen: set[tuple[Status, Status]] = set()


@pytest.fixture
async def system(store: Store, clock: ManualClock) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock, settings=Settings(concurrency=4))
    gate = asyncio.Event()

    @jobs.task(max_retries=0)
    async def ok() -> str:
        return "ok"

    @jobs.task(max_retries=1, retry_delay=0)
    async def fails() -> None:
        raise RuntimeError("no")

    @jobs.task(max_retries=1, retry_delay=0, timeout=0.05)
    async def hangs() -> None:
        await asyncio.sleep(10)

    @jobs.task(max_retries=0)
    async def cancels() -> None:
        from uno.jobs import Cancel

        raise Cancel("stop")

    @jobs.task(max_retries=0)
    async def waits() -> str:
        await gate.wait()
        return "released"

    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


async def status(system: JobSystem, job_id: str) -> Status:
    return (await system.get(job_id)).status


async def step(system: JobSystem, job_id: str, before: Status, action: Any) -> Status:
    """Run ``action`` and record the transition it caused."""
    await action
    after = await status(system, job_id)
    assert after in TRANSITIONS[before], f"{before} -> {after} is not in TRANSITIONS"
    seen.add((before, after))
    return after


async def test_every_transition_of_the_state_machine(system: JobSystem, store: Store) -> None:
    seen.clear()
    now = system.clock.now
    w = Worker(system, worker_id="w1")
    await w.__aenter__()

    # pending -> reserved -> running -> completed
    job = await system.enqueue("ok")
    await step(system, job.id, Status.PENDING, store.fetch_jobs("w1", None, 1, now()))
    await step(system, job.id, Status.RESERVED, store.start_jobs([job.id], "w1", now()))
    await store.release_jobs("w1", [job.id])  # running -> pending (polite stop)
    seen.add((Status.RUNNING, Status.PENDING))
    assert await status(system, job.id) == Status.PENDING
    await store.fetch_jobs("w1", None, 1, now())
    await step(system, job.id, Status.RESERVED, store.release_jobs("w1", [job.id]))
    # pending -> running: the worker claims what it starts at once in one step
    await step(system, job.id, Status.PENDING, store.fetch_jobs("w1", None, 1, now(), running=1))
    await store.release_jobs("w1", [job.id])
    await w.run_once()
    seen.add((Status.RUNNING, Status.COMPLETED))
    assert await status(system, job.id) == Status.COMPLETED
    assert (await system.get(job.id)).started_at is not None

    # running -> retrying -> reserved; running -> failed; failed -> pending (manual retry)
    job = await system.enqueue("fails")
    await w.run_once()
    assert await status(system, job.id) == Status.RETRYING
    seen.add((Status.RUNNING, Status.RETRYING))
    await step(system, job.id, Status.RETRYING, store.fetch_jobs("w1", None, 1, now()))
    await store.release_jobs("w1", [job.id])
    await w.run_once()
    assert await status(system, job.id) == Status.FAILED
    seen.add((Status.RUNNING, Status.FAILED))
    await step(system, job.id, Status.FAILED, system.retry(job.id))

    # retrying -> running: a due retry is claimed straight into running
    job = await system.enqueue("fails")
    await w.run_once()
    assert await status(system, job.id) == Status.RETRYING
    claim = store.fetch_jobs("w1", None, 10, now(), running=10)
    await step(system, job.id, Status.RETRYING, claim)
    held, _ = await system.list_jobs(worker_id="w1", statuses=(Status.RUNNING,))
    await store.release_jobs("w1", [j.id for j in held])

    # running -> timeout; timeout -> pending
    job = await system.enqueue("hangs", max_retries=0)
    await w.run_once()
    assert await status(system, job.id) == Status.TIMEOUT
    seen.add((Status.RUNNING, Status.TIMEOUT))
    await step(system, job.id, Status.TIMEOUT, system.retry(job.id))

    # running -> cancelled (the task raised Cancel); cancelled -> pending
    job = await system.enqueue("cancels")
    await w.run_once()
    assert await status(system, job.id) == Status.CANCELLED
    seen.add((Status.RUNNING, Status.CANCELLED))
    await step(system, job.id, Status.CANCELLED, system.retry(job.id))

    # pending / reserved / retrying -> cancelled
    job = await system.enqueue("ok")
    await step(system, job.id, Status.PENDING, system.cancel(job.id))
    job = await system.enqueue("ok")
    await store.fetch_jobs("w1", None, 1, now())
    await step(system, job.id, Status.RESERVED, system.cancel(job.id))
    job = await system.enqueue("fails")
    await w.run_once()
    await step(system, job.id, Status.RETRYING, system.cancel(job.id))

    await w.close()
    every_edge = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert seen == every_edge


async def test_illegal_transitions_are_refused(system: JobSystem, store: Store) -> None:
    done = await system.enqueue("ok")
    async with Worker(system, worker_id="w1") as w:
        await w.run_once()
    with pytest.raises(IllegalTransition, match="completed"):
        await system.cancel(done.id)
    with pytest.raises(IllegalTransition):
        await system.retry(done.id)
    pending = await system.enqueue("ok")
    with pytest.raises(IllegalTransition, match="pending"):
        await system.retry(pending.id)
    await store.fetch_jobs("w1", None, 1, system.clock.now())
    await store.start_jobs([pending.id], "w1", system.clock.now())
    with pytest.raises(IllegalTransition, match="running"):
        await system.retry(pending.id)
    assert await status(system, pending.id) == Status.RUNNING


async def test_a_running_job_cancelled_is_stopped_by_its_worker(system: JobSystem) -> None:
    job = await system.enqueue("waits")
    w = Worker(system, worker_id="w1")
    running = asyncio.create_task(w.run())
    await w.progress.until(lambda progress: progress.started == 1)
    assert await status(system, job.id) == Status.RUNNING
    await system.cancel(job.id, "stop")
    await w.progress.until(lambda progress: progress.cancelled_running == 1)
    assert await status(system, job.id) == Status.CANCELLED
    await w.stop(grace=0.05)
    await running
    assert await status(system, job.id) == Status.CANCELLED


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.enqueue("nope"), TaskNotFound, "Task not found: nope"),
        (lambda s: s.enqueue("ok", version="9.9"), TaskNotFound, "version 9.9"),
        (lambda s: s.enqueue("ok", priority="urgent"), ValidationError, "Invalid priority"),
        (lambda s: s.enqueue("ok", timeout=-1), ValidationError, "positive"),
        (lambda s: s.enqueue("ok", [object()]), ValidationError, "args must be JSON"),
        (lambda s: s.enqueue("ok", kwargs={"x": {1, 2}}), ValidationError, "kwargs must be JSON"),
        (lambda s: s.enqueue("ok", bogus=1), ValidationError, "Bad enqueue option"),
    ],
)
async def test_bad_input_raises_a_clear_error_and_writes_nothing(
    system: JobSystem, call: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await call(system)
    assert (await system.list_jobs())[1] == 0
