"""The rules for judging what came of one call, as pure functions.

The ``Executor`` makes the call and applies these: whether a result can be
stored, how an exception is stored (a ``JobError``), when a retry is due, and
what is written when an outcome cannot be settled at all.
"""

from __future__ import annotations

import json
import math
import traceback
from datetime import datetime, timedelta
from typing import Any

from uno.jobs.errors import Cancel, JobsError, Retry, ValidationError
from uno.jobs.jobs import Job, JobError, Status
from uno.jobs.limits import DEFAULT_LIMITS, Limits, check_json, clip_text
from uno.jobs.retry import RetryPolicy
from uno.jobs.store import Failure
from uno.jobs.tasks import Task
from uno.jobs.worker.processes import RemoteError

#: Integers every store keeps exactly (SQLite's JSON reads larger ones as floats).
_INT64 = 2**63
_encode = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode

#: Stands in for the message or traceback of an exception that cannot describe itself.
_UNDESCRIBABLE = "(the exception could not be described: {0})"


class JobTimedOut(TimeoutError):
    """The attempt ran past the job's timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"Job exceeded its timeout of {timeout:g} seconds")


class ResultNotSerializable(ValidationError):
    """The task returned something that cannot be stored as JSON within the limits."""


class OutcomeNotRecorded(JobsError):
    """Deciding or writing the outcome of an attempt failed; the attempt counts as failed.

    Stored as the error of the attempt, so that a job never stays ``running``
    because its outcome could not be settled (an overflowing retry time, a store
    that refuses one outcome of a batch).
    """


def check_result(result: Any, task_name: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """``result`` in the form to store; ``ResultNotSerializable`` unless it survives a
    JSON round trip on every store, within the depth and size of ``limits``.

    Subclasses of JSON types (an ``IntEnum``, a ``defaultdict``) are stored as
    their JSON form, as ``json`` writes them.
    """
    kind = type(result)
    if result is None or kind is bool or (kind is int and -_INT64 <= result < _INT64):
        return result
    if kind is float and math.isfinite(result):
        return result
    what = f"The result of task {task_name}"
    try:
        check_json(result, what, limits.max_json_depth, limits.max_result_bytes)
        if kind is int:
            _encode(result)  # past the interpreter's digit limit an int does not encode
        return result
    except ValidationError as exc:
        refusal = exc
    except (TypeError, ValueError, RecursionError) as exc:
        raise ResultNotSerializable(f"{what} is not JSON-serialisable: {exc}") from None
    # Not plain JSON types: what json makes of it, if that is storable.
    try:
        plain = json.loads(_encode(result))
    except (TypeError, ValueError, RecursionError):
        raise ResultNotSerializable(str(refusal)) from None
    try:
        check_json(plain, what, limits.max_json_depth, limits.max_result_bytes)
    except ValidationError as exc:
        raise ResultNotSerializable(str(exc)) from None
    return plain


def error_of(exc: BaseException, limits: Limits = DEFAULT_LIMITS) -> JobError:
    """The stored form of an exception: type, message and traceback.

    The texts are cut to ``max_error_chars`` and made storable (no NUL, no lone
    surrogate); an exception whose ``str()`` itself raises is still described.
    """
    if isinstance(exc, RemoteError):
        type_name, message, tb = exc.type_name, exc.message, exc.tb
    else:
        type_name = type(exc).__name__
        try:
            message = str(exc)
        except Exception as broken:
            message = _UNDESCRIBABLE.format(f"{type(broken).__name__} in its str()")
        tb = None
        if not isinstance(exc, JobTimedOut | Retry | Cancel | ResultNotSerializable):
            try:
                tb = "".join(traceback.format_exception(exc))
            except Exception as broken:
                tb = _UNDESCRIBABLE.format(f"{type(broken).__name__} in its traceback")
    clip = limits.max_error_chars
    return JobError(
        clip_text(str(type_name), limits.max_name_chars),
        clip_text(str(message), clip),
        None if tb is None else clip_text(str(tb), clip),
    )


def retry_policy(task: Task | None, job: Job, limits: Limits) -> RetryPolicy:
    """The task's policy with the job's own ``retry_delay`` as the base delay."""
    ceiling = limits.max_retry_delay
    if task is None:
        return RetryPolicy(delay=job.retry_delay, ceiling=ceiling)
    return RetryPolicy(
        delay=job.retry_delay, backoff=task.backoff, jitter=task.jitter, ceiling=ceiling
    )


def retry_time(
    exc: BaseException, task: Task | None, job: Job, now: datetime, limits: Limits
) -> datetime:
    """When the next attempt is due: the delay a ``Retry`` asked for, else the policy's,
    at most ``limits.max_retry_delay`` whatever the stored job or the task says.

    Raises (``OverflowError``, ``ValueError``) only for a delay no clamp can
    mend; the caller then fails the attempt.
    """
    delay = exc.delay if isinstance(exc, Retry) else None
    if delay is None:
        delay = retry_policy(task, job, limits).delay_for(job.retry_count + 1)
    seconds = float(delay)
    if math.isnan(seconds):
        raise ValueError(f"the retry delay is not a number: {delay!r}")
    seconds = min(max(seconds, 0.0), limits.max_retry_delay)
    return now + timedelta(seconds=seconds)


def outcome_failure(job_id: str, problem: BaseException, now: datetime, limits: Limits) -> Failure:
    """The final failure recorded for an attempt whose own outcome could not be settled."""
    try:
        described = f"{type(problem).__name__}: {problem}"
    except Exception:
        described = type(problem).__name__
    error = JobError(
        OutcomeNotRecorded.__name__,
        clip_text(
            f"The outcome of this attempt could not be recorded: {described}",
            limits.max_error_chars,
        ),
        None,
    )
    return Failure(job_id, error, now, Status.FAILED)
