"""The worker on every backend: outcomes, retries, timeouts, signals, ordering.

Tests step the worker with ``run_once()`` or run it in burst mode
(``run(until_empty=True)``); time moves only through the ManualClock, except
for timeouts, which are real and short.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from uno.jobs import Cancel, JobSystem, ManualClock, Priority, Retry, Settings, Status
from uno.jobs.events import EventKind, JobEvent
from uno.jobs.store.base import Store
from uno.jobs.worker import Worker


@pytest.fixture
def calls() -> list[Any]:
    """What the recording tasks of this test's system were called with, in order."""
    return []


@pytest.fixture
async def system(store: Store, clock: ManualClock, calls: list[Any]) -> AsyncIterator[JobSystem]:
    """A job system on the test's store with the tasks below registered."""
    jobs = JobSystem(store=store, clock=clock, settings=Settings(concurrency=4))
    _register_recording_tasks(jobs, calls)
    _register_failing_tasks(jobs, calls)
    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


def _register_recording_tasks(jobs: JobSystem, calls: list[Any]) -> None:
    @jobs.task(max_retries=0)
    async def record(value: Any) -> Any:
        calls.append(value)
        return value

    @jobs.task(max_retries=0)
    def record_sync(value: Any) -> Any:
        calls.append(value)
        return value

    @jobs.task(max_retries=0, timeout=0.2)
    async def slow_async(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    @jobs.task(max_retries=0, timeout=0.2)
    def slow_sync(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    @jobs.task(max_retries=0)
    def returns_a_set() -> Any:
        return {1, 2}

    @jobs.task(max_retries=0, queue="other")
    async def elsewhere(value: Any) -> Any:
        calls.append(value)
        return value


def _register_failing_tasks(jobs: JobSystem, calls: list[Any]) -> None:
    @jobs.task(max_retries=2, retry_delay=10)
    def always_fails(message: str = "boom") -> None:
        calls.append(message)
        raise ValueError(message)

    @jobs.task(max_retries=3, retry_delay=10, backoff=True)
    async def fails_with_backoff() -> None:
        raise RuntimeError("again")

    @jobs.task(max_retries=1, retry_delay=0)
    async def fails_once(key: str) -> str:
        calls.append(key)
        if calls.count(key) == 1:
            raise RuntimeError("first attempt fails")
        return "second time lucky"

    @jobs.task(max_retries=1, retry_delay=0, timeout=0.1)
    async def always_slow() -> None:
        await asyncio.sleep(5)

    @jobs.task(max_retries=5, retry_delay=999)
    async def asks_retry(delay: float) -> None:
        raise Retry(delay)

    @jobs.task(max_retries=5)
    def cancels_itself(reason: str) -> None:
        raise Cancel(reason)


def worker(system: JobSystem, **options: Any) -> Worker:
    options.setdefault("worker_id", "w1")
    return Worker(system, **options)


async def test_run_once_runs_a_batch_and_stores_results(
    system: JobSystem, calls: list[Any]
) -> None:
    a = await system.enqueue("record", [1])
    b = await system.enqueue("record_sync", [2])
    async with worker(system) as w:
        assert await w.run_once() == 2
        assert await w.run_once() == 0
    done_a, done_b = await system.get(a.id), await system.get(b.id)
    assert (done_a.status, done_a.result, done_a.retry_count) == (Status.COMPLETED, 1, 0)
    assert (done_b.status, done_b.result, done_b.worker_id) == (Status.COMPLETED, 2, "w1")
    assert done_a.started_at == done_a.completed_at == system.clock.now()
    assert sorted(calls) == [1, 2]


async def test_batch_is_sized_to_concurrency(system: JobSystem) -> None:
    for i in range(5):
        await system.enqueue("record", [i])
    async with worker(system, concurrency=2) as w:
        assert [await w.run_once() for _ in range(4)] == [2, 2, 1, 0]


async def test_result_round_trips_json_types(system: JobSystem) -> None:
    value = {
        "int": 1,
        "float": 2.5,
        "bool": True,
        "none": None,
        "text": "héllo ✓",
        "list": [1, "two", [3.0], {"four": 4}],
        "nested": {"a": {"b": []}},
    }
    jobs = [await system.enqueue("record", [v]) for v in (value, [1, 2], "s", 3, 4.5, None, False)]
    async with worker(system, concurrency=10) as w:
        await w.run_once()
    results = [(await system.get(j.id)).result for j in jobs]
    assert results == [value, [1, 2], "s", 3, 4.5, None, False]


async def test_non_json_result_is_a_clear_failure(system: JobSystem) -> None:
    job = await system.enqueue("returns_a_set")
    async with worker(system) as w:
        await w.run_once()
    failed = await system.get(job.id)
    assert failed.status == Status.FAILED
    assert failed.error is not None
    assert failed.error.type == "ResultNotSerializable"
    assert "returns_a_set" in failed.error.message
    assert "not JSON-serialisable" in failed.error.message


async def test_failures_are_retried_then_fail_with_the_error(
    system: JobSystem, clock: ManualClock, calls: list[Any]
) -> None:
    job = await system.enqueue("always_fails", ["kaput"])
    async with worker(system) as w:
        assert await w.run_once() == 1
        after_one = await system.get(job.id)
        assert (after_one.status, after_one.retry_count) == (Status.RETRYING, 1)
        assert after_one.scheduled_at == clock.now() + timedelta(seconds=10)
        assert await w.run_once() == 0  # not due yet
        clock.advance(10)
        assert await w.run_once() == 1
        clock.advance(10)
        assert await w.run_once() == 1
        clock.advance(10)
        assert await w.run_once() == 0
    final = await system.get(job.id)
    assert (final.status, final.retry_count) == (Status.FAILED, 2)
    assert calls == ["kaput"] * 3
    assert final.error is not None
    assert (final.error.type, final.error.message) == ("ValueError", "kaput")
    assert final.error.traceback is not None
    assert "raise ValueError(message)" in final.error.traceback


async def test_backoff_grows_and_the_jobs_own_delay_is_the_base(
    system: JobSystem, clock: ManualClock
) -> None:
    job = await system.enqueue("fails_with_backoff", retry_delay=3)
    delays = []
    async with worker(system) as w:
        for _ in range(3):
            assert await w.run_once() == 1
            stored = await system.get(job.id)
            assert stored.scheduled_at is not None
            delays.append((stored.scheduled_at - clock.now()).total_seconds())
            clock.set(stored.scheduled_at)
    assert delays == [3, 6, 12]


async def test_timeout_of_async_task(system: JobSystem) -> None:
    job = await system.enqueue("slow_async", [5])
    quick = await system.enqueue("slow_async", [0.01])
    started = time.monotonic()
    async with worker(system) as w:
        await w.run_once()
    assert time.monotonic() - started < 2
    timed_out = await system.get(job.id)
    assert timed_out.status == Status.TIMEOUT
    assert timed_out.error is not None and "timeout of 0.2 seconds" in timed_out.error.message
    assert (await system.get(quick.id)).status == Status.COMPLETED


async def test_timeout_of_blocking_function_does_not_block_the_loop(system: JobSystem) -> None:
    job = await system.enqueue("slow_sync", [1.5])
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    async with worker(system) as w:
        await w.run_once()
    ticker.cancel()
    assert time.monotonic() - started < 1.0
    assert ticks >= 5  # the loop kept turning while the thread slept
    assert (await system.get(job.id)).status == Status.TIMEOUT


async def test_a_timeout_is_a_failed_attempt_and_the_last_one_sets_timeout(
    system: JobSystem,
) -> None:
    job = await system.enqueue("always_slow")
    async with worker(system) as w:
        assert await w.run_once() == 1
        assert (await system.get(job.id)).status == Status.RETRYING
        assert await w.run_once() == 1
    final = await system.get(job.id)
    assert (final.status, final.retry_count) == (Status.TIMEOUT, 1)


async def test_retry_signal_sets_its_own_delay(system: JobSystem, clock: ManualClock) -> None:
    job = await system.enqueue("asks_retry", [5])
    async with worker(system) as w:
        await w.run_once()
    stored = await system.get(job.id)
    assert (stored.status, stored.retry_count) == (Status.RETRYING, 1)
    assert stored.scheduled_at == clock.now() + timedelta(seconds=5)
    assert stored.error is not None and stored.error.type == "Retry"


async def test_retry_signal_respects_max_retries(system: JobSystem) -> None:
    job = await system.enqueue("asks_retry", [0], max_retries=1)
    async with worker(system) as w:
        assert await w.run_once() == 1
        assert await w.run_once() == 1
        assert await w.run_once() == 0
    stored = await system.get(job.id)
    assert (stored.status, stored.retry_count) == (Status.FAILED, 1)


async def test_cancel_signal_ends_the_job_cancelled_without_retry(system: JobSystem) -> None:
    job = await system.enqueue("cancels_itself", ["not needed any more"])
    async with worker(system) as w:
        await w.run_once()
        assert await w.run_once() == 0
    stored = await system.get(job.id)
    assert (stored.status, stored.retry_count) == (Status.CANCELLED, 0)
    assert stored.error is not None
    assert (stored.error.type, stored.error.message) == ("Cancel", "not needed any more")


async def test_priority_order_then_fifo(
    system: JobSystem, clock: ManualClock, calls: list[Any]
) -> None:
    order = [
        ("low-1", Priority.LOW),
        ("normal-1", Priority.NORMAL),
        ("critical-1", Priority.CRITICAL),
        ("high-1", Priority.HIGH),
        ("normal-2", Priority.NORMAL),
        ("critical-2", Priority.CRITICAL),
        ("low-2", Priority.LOW),
        ("high-2", Priority.HIGH),
    ]
    for name, priority in order:
        await system.enqueue("record", [name], priority=priority)
        clock.advance(1)
    async with worker(system, concurrency=1) as w:
        while await w.run_once():
            pass
    assert calls == [
        "critical-1",
        "critical-2",
        "high-1",
        "high-2",
        "normal-1",
        "normal-2",
        "low-1",
        "low-2",
    ]


async def test_future_job_is_not_run_early(
    system: JobSystem, clock: ManualClock, calls: list[Any]
) -> None:
    later = await system.enqueue("record", ["later"], delay=60)
    at = await system.enqueue("record", ["at"], scheduled_at=clock.now() + timedelta(hours=1))
    async with worker(system) as w:
        assert await w.run_once() == 0
        clock.advance(59)
        assert await w.run_once() == 0
        clock.advance(1)
        assert await w.run_once() == 1
        clock.advance(3600)
        assert await w.run_once() == 1
    assert calls == ["later", "at"]
    assert (await system.get(at.id)).status == Status.COMPLETED
    assert (await system.get(later.id)).status == Status.COMPLETED


async def test_cancel_before_start_is_never_run(system: JobSystem, calls: list[Any]) -> None:
    job = await system.enqueue("record", ["x"])
    cancelled = await system.cancel(job.id, reason="changed my mind")
    assert cancelled.status == Status.CANCELLED
    async with worker(system) as w:
        assert await w.run_once() == 0
    assert calls == []
    assert (await system.get(job.id)).metadata["cancel_reason"] == "changed my mind"


async def test_manual_retry_runs_a_failed_job_again(system: JobSystem) -> None:
    job = await system.enqueue("fails_once", ["k"], max_retries=0)
    async with worker(system) as w:
        await w.run_once()
        assert (await system.get(job.id)).status == Status.FAILED
        again = await system.retry(job.id)
        assert (again.status, again.retry_count, again.error) == (Status.PENDING, 0, None)
        assert await w.run_once() == 1
    done = await system.get(job.id)
    assert (done.status, done.result) == (Status.COMPLETED, "second time lucky")


async def test_paused_queue_holds_jobs_until_resumed(system: JobSystem, calls: list[Any]) -> None:
    held = await system.enqueue("elsewhere", ["held"])
    free = await system.enqueue("record", ["free"])
    await system.pause_queue("other")
    async with worker(system) as w:
        assert await w.run_once() == 1
        assert (await system.get(held.id)).status == Status.PENDING
        assert await w.run_once() == 0
        await system.resume_queue("other")
        assert await w.run_once() == 1
    assert calls == ["free", "held"]
    assert (await system.get(free.id)).status == Status.COMPLETED


async def test_clear_empties_the_queue_and_nothing_else(system: JobSystem) -> None:
    done = await system.enqueue("elsewhere", ["done"])
    async with worker(system) as w:
        await w.run_once()
    retrying = await system.enqueue("always_fails", queue_name="other")
    async with worker(system) as w:
        await w.run_once()
    assert (await system.get(retrying.id)).status == Status.RETRYING
    waiting = [await system.enqueue("elsewhere", [i]) for i in range(3)]
    kept = await system.enqueue("record", ["kept"])
    assert await system.clear_queue("other") == 4
    remaining, total = await system.list_jobs(limit=100)
    assert total == 2
    assert {j.id for j in remaining} == {done.id, kept.id}
    assert all(j.id not in {w.id for w in waiting} for j in remaining)


async def test_worker_consumes_only_its_queues(system: JobSystem, calls: list[Any]) -> None:
    await system.enqueue("record", ["default"])
    await system.enqueue("elsewhere", ["other"])
    await system.enqueue("record", ["named-by-job"], queue_name="brand-new")
    async with worker(system, queues=["other"]) as w:
        assert await w.run_once() == 1
    assert calls == ["other"]
    async with worker(system, worker_id="w2") as every:
        assert await every.run_once() == 2
    assert sorted(calls) == ["default", "named-by-job", "other"]


async def test_unknown_task_in_this_worker_fails_the_job(
    system: JobSystem, calls: list[Any]
) -> None:
    job = await system.enqueue("record", [1])
    other = await system.enqueue("record_sync", [2])
    blank = JobSystem(store=system.store, clock=system.clock)
    async with Worker(blank, worker_id="blank") as w:
        assert await w.run_once() == 2
    failed = await system.get(job.id)
    assert failed.status == Status.FAILED
    assert failed.error is not None and "Task not found" in failed.error.message
    assert (await system.get(other.id)).status == Status.FAILED
    assert calls == []


async def test_events_started_succeeded_failed(system: JobSystem) -> None:
    events: list[JobEvent] = []
    unsubscribe = system.events.subscribe(events.append)
    ok = await system.enqueue("record", [1])
    bad = await system.enqueue("always_fails", max_retries=0)
    async with worker(system) as w:
        await w.run_once()
    unsubscribe()
    kinds = {(e.kind, e.job_id, e.status) for e in events}
    assert (EventKind.STARTED, ok.id, Status.RUNNING) in kinds
    assert (EventKind.SUCCEEDED, ok.id, Status.COMPLETED) in kinds
    assert (EventKind.FAILED, bad.id, Status.FAILED) in kinds
    finished = [e for e in events if e.kind in (EventKind.SUCCEEDED, EventKind.FAILED)]
    assert all(e.duration is not None and e.duration >= 0 for e in finished)
    started = [e for e in events if e.kind == EventKind.STARTED]
    assert all(e.wait_time == 0 for e in started)


async def test_run_sync_is_answered_by_a_running_worker(system: JobSystem) -> None:
    w = worker(system)
    running = asyncio.create_task(w.run())
    try:
        assert await system.run("record", ["hello"], wait_timeout=10) == "hello"
    finally:
        await w.stop(grace=1)
        await running


async def test_run_until_empty_drains_including_quick_retries(
    system: JobSystem, calls: list[Any]
) -> None:
    for i in range(7):
        await system.enqueue("record", [i])
    flaky = await system.enqueue("fails_once", ["f"])
    w = worker(system, concurrency=3)
    await w.run(until_empty=True)
    assert w.processed == 9  # 7 + two attempts of the flaky one
    assert (await system.get(flaky.id)).status == Status.COMPLETED
    assert sorted(c for c in calls if isinstance(c, int)) == list(range(7))


async def test_run_wakes_for_new_jobs_and_stops_on_request(system: JobSystem) -> None:
    w = worker(system)
    running = asyncio.create_task(w.run())
    job = await system.enqueue("record", ["late"])
    done = await system.wait(job.id, timeout=10)
    assert done.status == Status.COMPLETED
    w.request_stop()
    await asyncio.wait_for(running, 5)
    assert w.processed == 1


async def test_invalid_concurrency_is_refused(system: JobSystem) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Worker(system, concurrency=0)
