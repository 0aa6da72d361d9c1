"""Requests into jobs: every bound a job request must keep, checked in one place.

A ``JobRequest`` is what a caller asks for: loosely typed, from Python code, an
HTTP body or a schedule. ``validated`` checks every field against the limits
(``uno.jobs.limits``) and fills what the request leaves out from its task, so
whatever it returns can be stored, listed and settled on every store. A
schedule's job fields go through the same ``validated`` when the schedule is
made or changed (``scheduler/spec.py``), so a schedule cannot hold a value that
its jobs would be refused for.

``validated`` runs once per enqueued job, so the common case (plain JSON values,
task defaults, ASCII names) takes short paths that refuse nothing the full
checks accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from uno.jobs.clock import as_utc
from uno.jobs.errors import TaskNotFound, ValidationError
from uno.jobs.jobs import (
    Job,
    Priority,
    Status,
    check_tags,
    is_plain_name,
    new_job_id,
    validate_json,
)
from uno.jobs.limits import Limits, check_count, check_job_id, check_name, check_seconds
from uno.jobs.tasks import Task, TaskRef, TaskRegistry


@dataclass(slots=True)
class JobRequest:
    """Everything needed to enqueue one job; unset fields come from the task."""

    task_name: str
    args: Sequence[Any] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue_name: str | None = None
    priority: Priority | str = Priority.NORMAL
    scheduled_at: datetime | None = None
    delay: float | None = None
    max_retries: int | None = None
    retry_delay: float | None = None
    timeout: float | None = None
    tags: Sequence[str] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    job_id: str | None = None
    #: Enqueue by name: the defaults to use when the registry has no such task
    #: (the worker checks that it has it). ``None``: the task must be registered.
    task_ref: TaskRef | None = None


def validated(request: JobRequest, registry: TaskRegistry, limits: Limits, now: datetime) -> Job:
    """The pending job ``request`` asks for, every field checked against ``limits``, with
    what it leaves out taken from its task; ``ValidationError`` (or ``TaskNotFound``)
    names the first field that breaks a bound. ``now`` is its creation time (and
    bounds how far ahead it may be scheduled).

    The fields are checked in the order below, so the error names the same field
    whatever else is wrong.
    """
    task = _task(request, registry, limits)
    listed = _args(request.args, limits)
    kwargs = _json_fields(request.kwargs, "kwargs", limits)
    metadata = _json_fields(request.metadata, "metadata", limits)
    scheduled_at = _scheduled_for(request, now, limits)
    timeout, max_retries, retry_delay = _retry_terms(request, task, limits)
    tags = check_tags(request.tags, limits) if request.tags else []
    queue_name, job_id = _queue_and_id(request, task, limits)
    priority = request.priority
    if type(priority) is not Priority:
        priority = Priority.parse(priority)
    return Job(
        id=job_id,
        task_name=task.name,
        args=listed,
        kwargs=kwargs,
        queue_name=queue_name,
        priority=priority,
        status=Status.PENDING,
        scheduled_at=scheduled_at,
        created_at=now,
        max_retries=max_retries,
        retry_delay=float(retry_delay),
        tags=tags,
        metadata=metadata,
        timeout=None if timeout is None else float(timeout),
        version=task.version,
    )


def _task(request: JobRequest, registry: TaskRegistry, limits: Limits) -> Task | TaskRef:
    """The task ``request`` names, else its ``task_ref`` (enqueue by name) when it has
    one; ``TaskNotFound`` only for a name and version that are valid."""
    try:
        return registry.get(request.task_name, request.version)
    except TaskNotFound:
        # A registered name is valid; the others are checked before the error repeats them.
        check_name(request.task_name, "task_name", limits)
        if request.version is not None:
            check_name(request.version, "version", limits)
        ref = request.task_ref
        if ref is not None and ref.name == request.task_name:
            return ref if request.version is None else replace(ref, version=request.version)
        raise


def _args(args: Any, limits: Limits) -> list[Any]:
    """A new list of the positional arguments (``None`` is none), checked as JSON."""
    kind = type(args)
    if kind is not list and kind is not tuple:
        if args is None:
            args = ()
        elif _not_a_list(args):
            raise ValidationError(f"args must be a list, got {kind.__name__}")
    listed = list(args)
    validate_json(listed, "args", limits)
    return listed


def _json_fields(value: Any, what: str, limits: Limits) -> dict[str, Any]:
    """A new dict of a JSON object (kwargs, metadata); a plain dict takes the short path."""
    if type(value) is not dict:
        return _json_object(value, what, limits)
    if not value:
        return {}
    copy = dict(value)
    validate_json(copy, what, limits)
    return copy


def _scheduled_for(request: JobRequest, now: datetime, limits: Limits) -> datetime:
    """When the job is due: ``scheduled_at``, ``now`` plus ``delay``, or ``now``."""
    if request.scheduled_at is not None:
        if request.delay is not None:
            raise ValidationError("Give scheduled_at or delay, not both")
        return _scheduled_at(request.scheduled_at, now, limits)
    if request.delay is not None:
        delay = check_seconds(request.delay, "delay", limits.max_schedule_ahead)
        return now + timedelta(seconds=delay)
    return now


def _retry_terms(
    request: JobRequest, task: Task | TaskRef, limits: Limits
) -> tuple[float | None, int, float]:
    """Timeout, retries and retry delay: the request's, checked, or else the task's."""
    timeout = task.timeout
    if request.timeout is not None:
        timeout = check_seconds(request.timeout, "timeout", limits.max_timeout, positive=True)
    max_retries = task.max_retries
    if request.max_retries is not None:
        max_retries = check_count(request.max_retries, "max_retries", limits.max_retries)
    retry_delay = task.retry_delay
    if request.retry_delay is not None:
        retry_delay = check_seconds(request.retry_delay, "retry_delay", limits.max_retry_delay)
    return timeout, max_retries, retry_delay


def _queue_and_id(request: JobRequest, task: Task | TaskRef, limits: Limits) -> tuple[str, str]:
    """The queue (the task's unless named) and the job id (new unless given), checked."""
    queue_name = request.queue_name
    if queue_name is None:
        queue_name = task.queue
    elif not is_plain_name(queue_name, limits):
        check_name(queue_name, "queue_name", limits)
    job_id = request.job_id
    if job_id is None:
        job_id = new_job_id()
    else:
        check_job_id(job_id, limits)
    return queue_name, job_id


def _not_a_list(value: Any) -> bool:
    """True for what ``args`` must not be: text, an object, or not a collection at all."""
    return isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable)


def _json_object(value: Any, what: str, limits: Limits) -> dict[str, Any]:
    """A copy of a JSON object (kwargs, metadata) given as another mapping; ``None`` is empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be an object, got {type(value).__name__}")
    copy = dict(value)
    validate_json(copy, what, limits)
    return copy


def _scheduled_at(value: Any, now: datetime, limits: Limits) -> datetime:
    """``value`` in UTC, refused when it is not a datetime or lies too far ahead."""
    if not isinstance(value, datetime):
        raise ValidationError(f"scheduled_at must be a datetime, got {value!r}")
    try:
        scheduled_at = as_utc(value)
    except OverflowError:
        raise ValidationError("scheduled_at is out of range once converted to UTC") from None
    if (scheduled_at - now).total_seconds() > limits.max_schedule_ahead:
        raise ValidationError(
            f"scheduled_at may be at most {limits.max_schedule_ahead:g} seconds ahead"
        )
    return scheduled_at
