"""A schedule as a caller asks for it, and the one step that checks it whole.

A schedule's job fields become the fields of every job it fires, so they are
checked by the same ``validated`` as a job request (``uno.jobs.enqueue``), once,
when the schedule is made or changed: the job its firing would make is built and
thrown away. Its own fields (name, rule, time zone) are checked here. What passes
is a ``Schedule`` whose every field has its declared type, and whose jobs no
firing will refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from uno.jobs.enqueue import JobRequest, validated
from uno.jobs.errors import ValidationError
from uno.jobs.jobs import Job, Priority
from uno.jobs.limits import Limits, check_name
from uno.jobs.scheduler.occurrences import load_zone, normalize_cron, parse_interval
from uno.jobs.schedules import Interval, Schedule
from uno.jobs.tasks import TaskRegistry


@dataclass(slots=True)
class ScheduleSpec:
    """What a caller may set on a schedule: exactly one of ``cron_expression`` and
    ``interval`` (an ``Interval`` or a dict of its parts); job fields left ``None``
    come from the task when each job is made."""

    name: str
    task_name: str
    cron_expression: str | None = None
    interval: Interval | dict[str, Any] | None = None
    timezone: str = "UTC"
    args: Sequence[Any] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue_name: str | None = None
    priority: Priority | str = Priority.NORMAL
    tags: Sequence[str] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    max_retries: int | None = None
    retry_delay: float | None = None
    timeout: float | None = None
    version: str | None = None

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleSpec:
        """The spec a stored schedule was made from."""
        return cls(**{name: getattr(schedule, name) for name in SPEC_FIELDS})


#: The fields of a schedule that its caller sets (the rest: id, status and times).
SPEC_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ScheduleSpec))


def validated_schedule(
    spec: ScheduleSpec, registry: TaskRegistry, limits: Limits, now: datetime
) -> Schedule:
    """A new active schedule made from ``spec``, created at ``now``; ``ValidationError``
    (or ``TaskNotFound``) for the first field that breaks a bound.

    ``next_run_at`` is left for the caller to compute from the rule.
    """
    if not isinstance(spec.name, str) or not spec.name.strip():
        raise ValidationError("name must be a non-empty string")
    name = check_name(spec.name.strip(), "name", limits)
    check_name(spec.task_name, "task_name", limits)
    if spec.version is not None:
        check_name(spec.version, "version", limits)
    registry.get(spec.task_name, spec.version)
    cron, interval = _rule(spec, limits)
    check_name(spec.timezone, "timezone", limits)
    load_zone(spec.timezone)
    job = _first_job(spec, registry, limits, now)
    return Schedule(
        name=name,
        task_name=job.task_name,
        cron_expression=cron,
        interval=interval,
        timezone=spec.timezone.strip(),
        args=job.args,
        kwargs=job.kwargs,
        queue_name=None if spec.queue_name is None else job.queue_name,
        priority=job.priority,
        tags=job.tags,
        metadata=job.metadata,
        max_retries=None if spec.max_retries is None else job.max_retries,
        retry_delay=None if spec.retry_delay is None else job.retry_delay,
        timeout=None if spec.timeout is None else job.timeout,
        version=spec.version,
        created_at=now,
        updated_at=now,
    )


def _rule(spec: ScheduleSpec, limits: Limits) -> tuple[str | None, Interval | None]:
    """The cron expression (normalised) or the interval of ``spec``: exactly one is given."""
    has_cron = spec.cron_expression is not None
    if has_cron == (spec.interval is not None):
        raise ValidationError(
            "Give exactly one of cron_expression and interval"
            + (", not both" if has_cron else " (neither was given)")
        )
    if spec.cron_expression is not None:
        check_name(spec.cron_expression, "cron_expression", limits)
        return normalize_cron(spec.cron_expression), None
    assert spec.interval is not None
    return None, parse_interval(spec.interval)


def _first_job(spec: ScheduleSpec, registry: TaskRegistry, limits: Limits, now: datetime) -> Job:
    """The job a firing would make, checked as every job is.

    The schedule keeps "the task's default" (None) where the spec leaves a field
    out; this job only proves that the values it does give are allowed.
    """
    return validated(
        JobRequest(
            task_name=spec.task_name,
            args=spec.args,
            kwargs=spec.kwargs,
            queue_name=spec.queue_name,
            priority=spec.priority,
            max_retries=spec.max_retries,
            retry_delay=spec.retry_delay,
            timeout=spec.timeout,
            tags=spec.tags,
            metadata=spec.metadata,
            version=spec.version,
        ),
        registry,
        limits,
        now,
    )
