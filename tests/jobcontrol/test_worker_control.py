"""The worker side of job control, in process, on both stores: cancelled running
jobs stopped per executor, the job context, throttled progress, the task set."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from uno.jobs import JobContext, JobSystem, Settings
from uno.jobs.clock import ManualClock
from uno.jobs.context import context_parameter
from uno.jobs.jobs import Status
from uno.jobs.store.base import Store
from uno.jobs.worker import Worker
from uno.jobs.worker.reporting import ProgressReporter
from uno.jobs.workers import TaskRef

#: Released by the test to let an ignoring thread task end.
RELEASE = threading.Event()


@pytest.fixture
async def system(store: Store, clock: ManualClock) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock, settings=Settings(concurrency=4))

    @jobs.task(max_retries=0)
    def ignores_the_flag() -> str:
        RELEASE.wait(10)
        return "late"

    @jobs.task(max_retries=0, version="2")
    async def reports(ctx: JobContext) -> int:
        ctx.report_progress(0.25, "first")
        ctx.report_progress(0.75, "second")
        await asyncio.sleep(10)
        return ctx.attempt

    await jobs.open()
    try:
        yield jobs
    finally:
        RELEASE.set()
        await jobs.close()


async def test_a_thread_task_that_ignores_the_flag_is_abandoned_after_the_grace(
    system: JobSystem,
) -> None:
    RELEASE.clear()
    job = await system.enqueue("ignores_the_flag")
    w = Worker(system, worker_id="w1", cancel_grace=0.1)
    running = asyncio.create_task(w.run())
    await w.progress.until(lambda p: p.started == 1)
    await system.cancel(job.id, "no more")
    await w.progress.until(lambda p: p.cancelled_running == 1, timeout=5)
    assert (await system.get(job.id)).status is Status.CANCELLED
    RELEASE.set()  # the abandoned thread ends; its result is dropped
    await w.stop(grace=0.5)
    await running
    stored = await system.get(job.id)
    assert stored.status is Status.CANCELLED and stored.result is None


async def test_a_worker_registers_its_tasks_and_progress_is_written(
    system: JobSystem, store: Store
) -> None:
    job = await system.enqueue("reports")
    w = Worker(system, worker_id="w1")
    running = asyncio.create_task(w.run())
    await w.progress.until(lambda p: p.started == 1)
    (registered,) = await store.list_workers()
    assert registered.tasks == [TaskRef("ignores_the_flag", "1.0"), TaskRef("reports", "2")]

    async def latest() -> object:
        progress = await store.get_progress(job.id)
        return progress is not None and progress.fraction == 0.75 and progress

    deadline = asyncio.get_running_loop().time() + 5
    while not await latest():
        assert asyncio.get_running_loop().time() < deadline, await store.get_progress(job.id)
        await asyncio.sleep(0.02)
    progress = await store.get_progress(job.id)
    assert progress is not None and progress.message == "second"
    await system.cancel(job.id)
    await w.progress.until(lambda p: p.cancelled_running == 1)
    await w.stop(grace=0.5)
    await running


async def test_progress_reports_are_merged_within_the_interval() -> None:
    loop = asyncio.get_running_loop()
    written: list[tuple[str, float | None, str | None]] = []
    done = asyncio.Event()

    async def write(job_id: str, fraction: float | None, message: str | None) -> None:
        written.append((job_id, fraction, message))
        if fraction == 1.0:
            done.set()

    reporter = ProgressReporter(loop, write, "j", interval=0.2)
    for step in range(1, 11):
        reporter(step / 10, f"step {step}")
        await asyncio.sleep(0)
    await asyncio.wait_for(done.wait(), 5)
    assert written[-1] == ("j", 1.0, "step 10")
    assert len(written) <= 2  # the first report, then the latest of the rest


def test_the_context_parameter_is_found_by_its_annotation() -> None:
    def plain(a: int) -> None: ...

    def wants(a: int, context: JobContext) -> None: ...

    def wants_as_text(a: int, context: "JobContext") -> None: ...  # noqa: UP037

    assert context_parameter(plain) is None
    assert context_parameter(wants) == "context"
    assert context_parameter(wants_as_text) == "context"


async def test_a_cancel_heard_before_the_launch_is_checked_with_the_store(
    system: JobSystem, store: Store, clock: ManualClock
) -> None:
    """The notice can overtake the claim's answer: the job, once launched, is checked
    with the store and stopped when the cancel was of its attempt."""
    RELEASE.clear()
    job = await system.enqueue("ignores_the_flag")
    w = Worker(system, worker_id="w1", cancel_grace=0.1)
    async with w:
        (claimed,) = await store.fetch_jobs("w1", None, 1, clock.now(), running=1)
        await system.cancel(job.id)
        assert not w._executor.cancel(job.id)  # heard before the launch
        w._executor.launch(claimed)
        await w.progress.until(lambda p: p.cancelled_running == 1, timeout=5)
    RELEASE.set()
    assert (await system.get(job.id)).status is Status.CANCELLED
