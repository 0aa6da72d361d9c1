"""Running one task function, and judging what came of it.

The worker loop owns the bookkeeping; this module knows how a call is made (on
the event loop, in a thread, in a child process) and how an outcome becomes a
stored result or a ``JobError``.
"""

from __future__ import annotations

import asyncio
import json
import math
import traceback
from typing import Any

from uno.jobs.errors import Cancel, Retry, ValidationError
from uno.jobs.jobs import Job, JobError
from uno.jobs.retry import RetryPolicy
from uno.jobs.tasks import Task
from uno.jobs.worker.processes import ProcessPool, RemoteError

_SIMPLE = (type(None), bool, int, str)
_encode = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode


class JobTimedOut(TimeoutError):
    """The attempt ran past the job's timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"Job exceeded its timeout of {timeout:g} seconds")


class ResultNotSerializable(ValidationError):
    """The task returned something that cannot be stored as JSON."""


def check_result(result: Any, task_name: str) -> None:
    """Raise ``ResultNotSerializable`` unless ``result`` survives a JSON round trip."""
    kind = type(result)
    if kind in _SIMPLE or (kind is float and math.isfinite(result)):
        return
    try:
        _encode(result)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ResultNotSerializable(
            f"The result of task {task_name} is not JSON-serialisable: {exc}"
        ) from None


def error_of(exc: BaseException) -> JobError:
    """The stored form of an exception: type, message and traceback."""
    if isinstance(exc, RemoteError):
        return JobError(exc.type_name, exc.message, exc.tb)
    if isinstance(exc, JobTimedOut | Retry | Cancel | ResultNotSerializable):
        return JobError(type(exc).__name__, str(exc), None)
    return JobError(type(exc).__name__, str(exc), "".join(traceback.format_exception(exc)))


def retry_policy(task: Task | None, job: Job) -> RetryPolicy:
    """The task's policy with the job's own ``retry_delay`` as the base delay."""
    if task is None:
        return RetryPolicy(delay=job.retry_delay)
    return RetryPolicy(delay=job.retry_delay, backoff=task.backoff, jitter=task.jitter)


async def call_inline(task: Task, args: Any, kwargs: Any, timeout: float | None) -> Any:
    """Run one call of ``task`` to the end, as a worker would, and return its result.

    Plain functions run in a thread (or a child process); ``TimeoutError`` is
    raised past ``timeout``. Used by ``uno.jobs.testing.perform``.
    """
    if task.is_async:
        awaitable: Any = task.func(*args, **kwargs)
    elif task.executor == "process":
        awaitable = _in_process(task, args, kwargs)
    else:
        awaitable = asyncio.to_thread(task.func, *args, **kwargs)
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError:
        if timeout is None:
            raise
        raise JobTimedOut(timeout) from None


async def _in_process(task: Task, args: Any, kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def deliver(_token: object, ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    pool = ProcessPool(1, deliver)
    token = object()
    try:
        pool.submit(token, task.func, list(args), dict(kwargs))
        return await future
    finally:
        if not future.done():
            pool.abandon(token)
        pool.close()
