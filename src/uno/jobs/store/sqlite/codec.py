"""Conversions between domain objects and SQLite rows.

Rows are plain tuples in a fixed column order; Job and Schedule objects are
built positionally from them, with one ``json.loads`` per job, because this sits
on the hot path of every fetch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from uno.jobs.errors import ValidationError
from uno.jobs.jobs import Job, JobError, Priority, Status
from uno.jobs.schedules import Interval, Schedule, ScheduleStatus

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_loads = json.loads
_fromtimestamp = datetime.fromtimestamp

PRIORITY_BY_RANK: tuple[Priority, ...] = tuple(Priority.from_rank(r) for r in range(4))
STATUS_BY_VALUE: dict[str, Status] = {s.value: s for s in Status}
SCHEDULE_STATUS_BY_VALUE: dict[str, ScheduleStatus] = {s.value: s for s in ScheduleStatus}


def ts(when: datetime | None) -> float | None:
    """Epoch seconds of a datetime; naive ones are read as UTC."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else _fromtimestamp(value, UTC)


def dumps_list(value: Sequence[Any] | None) -> str:
    return _dumps(list(value)) if value else "[]"


def dumps_dict(value: dict[str, Any] | None) -> str:
    return _dumps(value) if value else "{}"


def dumps(value: Any) -> str:
    return _dumps(value)


def dumps_error(error: JobError | None) -> str | None:
    return None if error is None else _dumps(error.to_dict())


def job_params(job: Job) -> tuple[Any, ...]:
    """The insert_job parameters of a job."""
    result = job.result
    error = job.error
    scheduled = job.scheduled_at or job.created_at
    if scheduled is None:
        raise ValidationError(f"Job {job.id} needs created_at or scheduled_at to be stored")
    return (
        job.id,
        job.task_name,
        _dumps(job.args) if job.args else "[]",
        _dumps(job.kwargs) if job.kwargs else "{}",
        job.queue_name,
        job.priority.rank,
        job.status.value,
        ts(scheduled),
        ts(job.created_at or scheduled),
        ts(job.started_at),
        ts(job.completed_at),
        None if result is None else _dumps(result),
        None if error is None else _dumps(error.to_dict()),
        job.retry_count,
        job.max_retries,
        job.retry_delay,
        _dumps(job.tags) if job.tags else "[]",
        _dumps(job.metadata) if job.metadata else "{}",
        job.worker_id,
        job.timeout,
        job.version,
    )


def row_to_job(row: Sequence[Any]) -> Job:
    """A Job from a row of the job_columns fragment (seq first, then Job fields)."""
    (
        _seq,
        task_name,
        job_id,
        blob,
        queue_name,
        priority,
        status,
        scheduled_at,
        created_at,
        started_at,
        completed_at,
        retry_count,
        max_retries,
        retry_delay,
        worker_id,
        timeout,
        version,
    ) = row
    args, kwargs, tags, metadata, result, error = _loads(blob)
    return Job(
        task_name,
        job_id,
        args,
        kwargs,
        queue_name,
        PRIORITY_BY_RANK[priority],
        STATUS_BY_VALUE[status],
        None if scheduled_at is None else _fromtimestamp(scheduled_at, UTC),
        None if created_at is None else _fromtimestamp(created_at, UTC),
        None if started_at is None else _fromtimestamp(started_at, UTC),
        None if completed_at is None else _fromtimestamp(completed_at, UTC),
        result,
        None
        if error is None
        else JobError(error.get("type", ""), error.get("message", ""), error.get("traceback")),
        retry_count,
        max_retries,
        retry_delay,
        tags,
        metadata,
        worker_id,
        timeout,
        version,
    )


def schedule_params(schedule: Schedule) -> tuple[Any, ...]:
    """Parameters in schedule_columns order."""
    interval = schedule.interval
    return (
        schedule.id,
        schedule.name,
        schedule.task_name,
        schedule.status.value,
        schedule.cron_expression,
        None if interval is None else _dumps(interval.to_dict()),
        schedule.timezone,
        dumps_list(schedule.args),
        dumps_dict(schedule.kwargs),
        schedule.queue_name,
        schedule.priority.rank,
        dumps_list(schedule.tags),
        dumps_dict(schedule.metadata),
        schedule.max_retries,
        schedule.retry_delay,
        schedule.timeout,
        schedule.version,
        ts(schedule.last_run_at),
        ts(schedule.next_run_at),
        ts(schedule.created_at),
        ts(schedule.updated_at),
        schedule.revision,
    )


def row_to_schedule(row: Sequence[Any]) -> Schedule:
    (
        schedule_id,
        name,
        task_name,
        status,
        cron_expression,
        interval,
        timezone,
        args,
        kwargs,
        queue_name,
        priority,
        tags,
        metadata,
        max_retries,
        retry_delay,
        timeout,
        version,
        last_run_at,
        next_run_at,
        created_at,
        updated_at,
        revision,
    ) = row
    return Schedule(
        name=name,
        task_name=task_name,
        id=schedule_id,
        status=SCHEDULE_STATUS_BY_VALUE[status],
        cron_expression=cron_expression,
        interval=None if interval is None else Interval.from_dict(_loads(interval)),
        timezone=timezone,
        args=_loads(args),
        kwargs=_loads(kwargs),
        queue_name=queue_name,
        priority=PRIORITY_BY_RANK[priority],
        tags=_loads(tags),
        metadata=_loads(metadata),
        max_retries=max_retries,
        retry_delay=retry_delay,
        timeout=timeout,
        version=version,
        last_run_at=dt(last_run_at),
        next_run_at=dt(next_run_at),
        created_at=dt(created_at),
        updated_at=dt(updated_at),
        revision=revision,
    )
