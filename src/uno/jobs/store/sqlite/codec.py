"""Conversions between domain objects and SQLite rows.

Jobs: the conversion of each kind of value of the column spec
(``store/columns.py``), from which the insert parameters, the read column list
and the row readers are generated. A job read returns its JSON columns as one
array, so a row costs one ``json.loads``. Schedules: rows in a fixed column order.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from uno.jobs.errors import ValidationError
from uno.jobs.jobs import Job, JobError
from uno.jobs.schedules import Interval, Schedule, ScheduleStatus
from uno.jobs.store.columns import (
    BUNDLE,
    BUNDLED,
    INSERTED,
    PRIORITY_BY_RANK,
    PRIORITY_RANK,
    READ,
    READ_RESULT,
    STATUS_BY_VALUE,
    STATUS_VALUE,
    Conversion,
    JobReader,
    Kind,
    OrNone,
    compile_encoder,
    compile_reader,
    names,
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_loads = json.loads
_fromtimestamp = datetime.fromtimestamp

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


def _list_text(value: Sequence[Any] | None) -> str:
    return _dumps(value) if value else "[]"


def _object_text(value: dict[str, Any] | None) -> str:
    return _dumps(value) if value else "{}"


#: How each kind of job value is stored: times as epoch seconds (REAL), JSON as text.
_ENCODE: Mapping[Kind, Conversion] = {
    Kind.TEXT: None,
    Kind.INTEGER: None,
    Kind.FLOAT: None,
    Kind.TIME: OrNone(ts),
    Kind.PRIORITY: PRIORITY_RANK,
    Kind.STATUS: STATUS_VALUE,
    Kind.JSON_LIST: _list_text,
    Kind.JSON_OBJECT: _object_text,
    Kind.JSON: OrNone(_dumps),
    Kind.ERROR: dumps_error,
    Kind.TAGS: _list_text,
}

#: And how each comes back (the JSON kinds arrive parsed, in the bundle).
_DECODE: Mapping[Kind, Conversion] = {
    Kind.TEXT: None,
    Kind.INTEGER: None,
    Kind.FLOAT: None,
    Kind.TIME: OrNone(_fromtimestamp, (UTC,)),
    Kind.PRIORITY: PRIORITY_BY_RANK,
    Kind.STATUS: STATUS_BY_VALUE,
    Kind.JSON_LIST: None,
    Kind.JSON_OBJECT: None,
    Kind.JSON: None,
    Kind.ERROR: OrNone(JobError.from_dict),
    Kind.TAGS: None,
}

_encode_job = compile_encoder(INSERTED, _ENCODE, "sqlite_job_params")


def _bundle() -> str:
    """The JSON columns as one array, built by concatenation: they are stored as JSON text."""
    parts = [f"coalesce({c.name}, 'null')" if c.nullable else c.name for c in BUNDLED]
    return "'[' || " + " || ',' || ".join(parts) + f" || ']' AS {BUNDLE}"


#: The ``{{slots}}`` of queries.sql, generated from the column spec.
QUERY_SLOTS: Mapping[str, str] = {
    "job_columns": names(INSERTED),
    "job_values": ", ".join("?" for _ in INSERTED),
    "job_fields": names([c for c in READ if not c.in_bundle]) + ",\n" + _bundle(),
}


def job_params(job: Job) -> tuple[Any, ...]:
    """The insert_job parameters of a job (``{{job_columns}}`` order)."""
    if job.scheduled_at is None and job.created_at is None:
        raise ValidationError(f"Job {job.id} needs created_at or scheduled_at to be stored")
    return _encode_job(job)


@cache
def _reader(result_names: tuple[str, ...]) -> JobReader:
    return compile_reader(result_names, _DECODE)


_reader(READ_RESULT)  # every kind has its way back, and the usual shape is ready


def job_reader(cursor: sqlite3.Cursor) -> JobReader:
    """The reader of the rows ``cursor`` returns, by their column names."""
    return _reader(tuple(column[0] for column in cursor.description))


def read_jobs(cursor: sqlite3.Cursor) -> list[Job]:
    """Every row of an executed job read, as Jobs."""
    rows = cursor.fetchall()
    if not rows:
        return []
    return list(map(job_reader(cursor).job, rows))


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
