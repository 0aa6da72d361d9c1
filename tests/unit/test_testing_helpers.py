"""``uno.jobs.testing``: perform, drain and assert_enqueued, as users call them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from uno.jobs import Cancel, JobSystem, ManualClock, Retry, Status, TaskNotFound, ValidationError
from uno.jobs.store.base import Store
from uno.jobs.testing import FailedJobs, assert_enqueued, drain, perform


@pytest.fixture
async def system(store: Store, clock: ManualClock) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock)

    @jobs.task
    async def greet(name: str, *, punctuation: str = "!") -> str:
        return f"hello {name}{punctuation}"

    @jobs.task
    def add(a: int, b: int) -> int:
        return a + b

    @jobs.task(timeout=0.1)
    def too_slow() -> None:
        time.sleep(1)

    @jobs.task
    async def wants_retry() -> None:
        raise Retry(3)

    @jobs.task
    async def gives_up() -> None:
        raise Cancel("nothing to do")

    @jobs.task
    def returns_object() -> object:
        return object()

    @jobs.task(max_retries=1, retry_delay=0)
    def breaks(n: int) -> None:
        raise ValueError(f"broken {n}")

    @jobs.task(max_retries=0, queue="mail")
    async def send(to: str) -> str:
        await asyncio.sleep(0)
        return to

    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


async def test_perform_runs_async_and_plain_tasks_inline(system: JobSystem) -> None:
    assert await perform(system, "greet", "ann", punctuation="?") == "hello ann?"
    assert await perform(system, system.registry.get("add"), 2, 3) == 5
    assert (await system.list_jobs())[1] == 0  # nothing stored


async def test_perform_raises_what_the_task_raises(system: JobSystem) -> None:
    with pytest.raises(Retry):
        await perform(system, "wants_retry")
    with pytest.raises(Cancel, match="nothing to do"):
        await perform(system, "gives_up")
    with pytest.raises(TimeoutError, match=r"timeout of 0\.1 seconds"):
        await perform(system, "too_slow")
    with pytest.raises(ValidationError, match="not JSON-serialisable"):
        await perform(system, "returns_object")
    with pytest.raises(ValidationError, match="args must be JSON"):
        await perform(system, "add", {1}, 2)
    with pytest.raises(TaskNotFound):
        await perform(system, "missing")


async def test_drain_runs_every_due_job_of_the_queues(system: JobSystem) -> None:
    mail = [await system.enqueue("send", [f"{i}@example.com"]) for i in range(3)]
    other = await system.enqueue("add", [1, 2])
    assert await drain(system, queues=["mail"]) == 3
    assert [(await system.get(j.id)).status for j in mail] == [Status.COMPLETED] * 3
    assert (await system.get(other.id)).status == Status.PENDING
    assert await drain(system) == 1
    assert await drain(system) == 0


async def test_drain_raises_listing_the_jobs_that_failed(system: JobSystem) -> None:
    ok = await system.enqueue("add", [1, 2])
    bad = [await system.enqueue("breaks", [n]) for n in range(2)]
    gave_up = await system.enqueue("gives_up")
    with pytest.raises(FailedJobs) as info:
        await drain(system, raise_on_failure=True)
    assert sorted(job.id for job in info.value.jobs) == sorted(job.id for job in bad)
    assert "ValueError: broken 0" in str(info.value) and "ValueError: broken 1" in str(info.value)
    assert ok.id not in str(info.value) and gave_up.id not in str(info.value)
    assert (await system.get(ok.id)).status == Status.COMPLETED
    assert [(await system.get(j.id)).retry_count for j in bad] == [1, 1]  # retried first


async def test_drain_without_raise_on_failure_counts_failed_attempts(system: JobSystem) -> None:
    await system.enqueue("breaks", [0])
    assert await drain(system) == 2  # the attempt and its retry


async def test_assert_enqueued_finds_the_job_or_says_what_is_there(system: JobSystem) -> None:
    job = await system.enqueue("send", ["ann@example.com"], priority="high", tags=["welcome"])
    found = await assert_enqueued(system, "send", args=("ann@example.com",), priority="high")
    assert found.id == job.id
    assert (await assert_enqueued(system, "send", tags=["welcome"])).id == job.id
    with pytest.raises(AssertionError, match="found 1") as info:
        await assert_enqueued(system, "send", args=["bob@example.com"])
    assert "ann@example.com" in str(info.value)
    with pytest.raises(AssertionError, match="none is stored"):
        await assert_enqueued(system, "add")
    with pytest.raises(TypeError, match="cannot match"):
        await assert_enqueued(system, "send", colour="red")
