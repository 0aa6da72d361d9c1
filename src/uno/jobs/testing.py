"""Helpers for testing code that uses uno-jobs: run a task inline, drain the
queues with a real worker, assert that a job was enqueued.

    async def test_signup(jobs):
        await signup("ann@example.com")
        job = await assert_enqueued(jobs, "send_welcome", kwargs={"to": "ann@example.com"})
        assert await drain(jobs) == 1
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from uno.jobs.events import EventKind, JobEvent
from uno.jobs.jobs import Job, Priority, Status, validate_json
from uno.jobs.store import Completion
from uno.jobs.system import JobSystem
from uno.jobs.tasks import Task
from uno.jobs.worker import Worker
from uno.jobs.worker.completer import FlushPolicy
from uno.jobs.worker.executor import Attempt, Executor
from uno.jobs.worker.outcome_log import Outcome

__all__ = ["FailedJobs", "assert_enqueued", "drain", "perform"]


async def perform(system: JobSystem, task: str | Task, /, *args: Any, **kwargs: Any) -> Any:
    """Run one call of ``task`` now, in this process, as a worker would; return its result.

    The worker's own executor runs it (on the event loop, in a thread or a child
    process, as the task says). Nothing is stored. Arguments and result must be
    JSON, as for a real job, and the task's timeout applies (``TimeoutError``).
    Whatever the task raises, ``Retry`` and ``Cancel`` included, is raised here.
    """
    resolved = system.registry.get(task) if isinstance(task, str) else task
    validate_json(list(args), "args")
    validate_json(kwargs, "kwargs")
    job = Job(
        task_name=resolved.name,
        args=list(args),
        kwargs=dict(kwargs),
        queue_name=resolved.queue,
        timeout=resolved.timeout,
        max_retries=0,  # one attempt: what it raises is the caller's to see
    )
    attempt, outcome = await _attempt(system, job, resolved)
    if isinstance(outcome, Completion):
        return outcome.result
    raise attempt.error or RuntimeError(f"{resolved.name} failed: {outcome.error.message}")


async def _attempt(system: JobSystem, job: Job, task: Task) -> tuple[Attempt, Outcome]:
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[tuple[Attempt, Outcome]] = loop.create_future()

    def finished(attempt: Attempt, outcome: Outcome, _seconds: float) -> None:
        if not ended.done():
            ended.set_result((attempt, outcome))

    executor = Executor(system.registry, system.clock, system.settings.limits, 1, finished)
    try:
        executor.launch(job, task)
        return await ended
    finally:
        executor.withdraw()  # only when cancelled: stop waiting for the call
        executor.close()


class FailedJobs(AssertionError):
    """``drain(..., raise_on_failure=True)`` ran jobs that ended failed or timed out."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        lines = [
            f"  {job.id} {job.task_name}: {job.status.value}"
            + (f" ({job.error.type}: {job.error.message})" if job.error else "")
            for job in jobs
        ]
        super().__init__(f"{len(jobs)} job(s) failed:\n" + "\n".join(lines))
        self.jobs = list(jobs)


#: Endings that make ``drain(..., raise_on_failure=True)`` raise (a ``Cancel`` is a
#: decision of the task's, not a failure).
_FAILED = frozenset({Status.FAILED, Status.TIMEOUT})


async def drain(
    system: JobSystem,
    queues: Sequence[str] | None = None,
    *,
    raise_on_failure: bool = False,
    **options: Any,
) -> int:
    """Run a worker until no job is due and none is running; return how many attempts ran.

    Each outcome is written as soon as its attempt ends (``FlushPolicy.inline``).
    With ``raise_on_failure``, raise ``FailedJobs`` listing the jobs that ended
    failed or timed out during the drain (like arq's ``run_check``).
    ``options`` go to ``Worker`` (concurrency, worker_id, ...).
    """
    options.setdefault("flush", FlushPolicy.inline())
    worker = Worker(system, queues=queues, **options)
    failed: list[str] = []

    def note(event: JobEvent) -> None:
        if event.kind is EventKind.FAILED and event.status in _FAILED:
            failed.append(event.job_id)

    unsubscribe = system.events.subscribe(note) if raise_on_failure else None
    try:
        await worker.run(until_empty=True)
    finally:
        if unsubscribe is not None:
            unsubscribe()
    if failed:
        raise FailedJobs(await system.store.get_jobs(failed))
    return worker.processed


_FIELDS = {
    "args",
    "kwargs",
    "queue_name",
    "priority",
    "status",
    "tags",
    "metadata",
    "version",
    "scheduled_at",
    "max_retries",
    "retry_delay",
    "timeout",
}


async def assert_enqueued(system: JobSystem, task_name: str, **match: Any) -> Job:
    """The stored job of ``task_name`` whose fields equal ``match``; AssertionError if none.

    ``match`` takes Job fields: args, kwargs, queue_name, priority, status, tags,
    metadata, version, scheduled_at, max_retries, retry_delay, timeout. When
    several jobs match, the most recently created one is returned.
    """
    unknown = set(match) - _FIELDS
    if unknown:
        raise TypeError(f"assert_enqueued cannot match on {sorted(unknown)}")
    wanted = dict(match)
    if "args" in wanted:
        wanted["args"] = list(wanted["args"])
    if "priority" in wanted:
        wanted["priority"] = Priority.parse(wanted["priority"])
    if "status" in wanted:
        wanted["status"] = Status.parse(wanted["status"])
    jobs, _total = await system.list_jobs(task_name=task_name, limit=1000)
    for job in jobs:
        if all(getattr(job, name) == value for name, value in wanted.items()):
            return job
    seen = "\n".join(
        f"  {job.id}: " + ", ".join(f"{n}={getattr(job, n)!r}" for n in sorted(wanted) or ["args"])
        for job in jobs[:20]
    )
    raise AssertionError(
        f"No job of task {task_name!r} matches {match!r}; "
        + (f"found {len(jobs)}:\n{seen}" if jobs else "none is stored")
    )
