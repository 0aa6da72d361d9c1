"""Helpers for testing code that uses uno-jobs: run a task inline, drain the
queues with a real worker, assert that a job was enqueued.

    async def test_signup(jobs):
        await signup("ann@example.com")
        job = await assert_enqueued(jobs, "send_welcome", kwargs={"to": "ann@example.com"})
        assert await drain(jobs) == 1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from uno.jobs.jobs import Job, Priority, Status, validate_json
from uno.jobs.system import JobSystem
from uno.jobs.tasks import Task
from uno.jobs.worker import Worker
from uno.jobs.worker.execute import call_inline, check_result

__all__ = ["assert_enqueued", "drain", "perform"]


async def perform(system: JobSystem, task: str | Task, /, *args: Any, **kwargs: Any) -> Any:
    """Run one call of ``task`` now, in this process, as a worker would; return its result.

    Nothing is stored. Arguments and result must be JSON, as for a real job, and
    the task's timeout applies (``TimeoutError``). Whatever the task raises,
    ``Retry`` and ``Cancel`` included, is raised here.
    """
    resolved = system.registry.get(task) if isinstance(task, str) else task
    validate_json(list(args), "args")
    validate_json(kwargs, "kwargs")
    result = await call_inline(resolved, args, kwargs, resolved.timeout)
    check_result(result, resolved.name)
    return result


async def drain(system: JobSystem, queues: Sequence[str] | None = None, **options: Any) -> int:
    """Run a worker until no job is due and none is running; return how many ran.

    ``options`` go to ``Worker`` (concurrency, worker_id, ...).
    """
    worker = Worker(system, queues=queues, **options)
    await worker.run(until_empty=True)
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
