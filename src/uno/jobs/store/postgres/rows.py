"""Conversions between domain objects and PostgreSQL rows and parameters.

Jobs: the conversion of each kind of value of the column spec
(``store/columns.py``), from which the column lists of queries.sql, the insert
parameters (a VALUES row, ``unnest`` arrays, binary COPY rows) and the row
readers are generated. JSON goes in as text cast to ``jsonb`` in SQL (one array
per column, so a batch is one statement); a job read returns its JSON columns as
one text, parsed with one ``json.loads``. Schedules come back as dicts whose
``jsonb`` values psycopg has parsed.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from uno.jobs.attempts import failure_outcome
from uno.jobs.clock import as_utc
from uno.jobs.jobs import Job, JobError, Priority, Status
from uno.jobs.schedules import Interval, Schedule, ScheduleStatus
from uno.jobs.store.base import Completion, Failure
from uno.jobs.store.columns import (
    BUNDLE,
    BUNDLED,
    INSERTED,
    JSON_KINDS,
    PRIORITY_BY_RANK,
    PRIORITY_RANK,
    READ,
    READ_RESULT,
    STATUS_BY_VALUE,
    STATUS_VALUE,
    Conversion,
    JobColumn,
    JobReader,
    Kind,
    OrNone,
    compile_encoder,
    compile_reader,
    names,
)
from uno.jobs.workers import TaskRef


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _make_dumps() -> Callable[[Any], str]:
    """A JSON encoder built once: ``json.dumps`` rebuilds its C encoder on every call,
    which dominates the cost of encoding many small values."""
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
    encode = c_make_encoder(None, _refuse, encode_basestring, None, ":", ",", False, False, False)

    def dumps(value: Any) -> str:
        if isinstance(value, str):
            return encode_basestring(value)
        return "".join(encode(value, 0))

    return dumps


_dumps = _make_dumps()


def jsonb_binary(value: Any) -> bytes | None:
    """``value`` in jsonb's binary wire format (a version byte, then the JSON text)."""
    if value is None:
        return None
    if not value and isinstance(value, list | dict):
        return b"\x01[]" if isinstance(value, list) else b"\x01{}"
    return b"\x01" + _dumps(value).encode()


_TEXT_OID = 25
_EMPTY_TEXT_ARRAY = struct.pack("!iiI", 0, 0, _TEXT_OID)


def text_array_binary(values: Sequence[str]) -> bytes:
    """A ``text[]`` in PostgreSQL's binary array format (no NULL elements)."""
    if not values:
        return _EMPTY_TEXT_ARRAY
    parts = [struct.pack("!iiIii", 1, 0, _TEXT_OID, len(values), 1)]
    for value in values:
        data = value.encode()
        parts.append(struct.pack("!i", len(data)))
        parts.append(data)
    return b"".join(parts)


def text_array_literal(values: Sequence[str | None]) -> str:
    """A ``text[]`` as PostgreSQL's text form (``{"a",NULL}``): a parameter sent as one
    string and cast to ``text[]`` in SQL, where a list is adapted element by element
    on every execution."""
    quoted = (
        "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    )
    return "{" + ",".join(quoted) + "}"


def task_arrays(tasks: Sequence[TaskRef]) -> tuple[str, str]:
    """The claim's task filter (``fetch_jobs``): the names and the versions, paired
    by position, as ``text[]`` literals."""
    served = sorted(set(tasks))
    return (
        text_array_literal([t.name for t in served]),
        text_array_literal([t.version for t in served]),
    )


def utc(when: datetime | None) -> datetime | None:
    return None if when is None else as_utc(when)


def _utc(when: datetime) -> datetime:
    """``as_utc``, with the common case (already in UTC) passed through as it is."""
    return when if when.tzinfo is UTC else as_utc(when)


def _jsonb_list(value: list[Any] | None) -> bytes:
    return b"\x01" + _dumps(value).encode() if value else b"\x01[]"


def _jsonb_object(value: dict[str, Any] | None) -> bytes:
    return b"\x01" + _dumps(value).encode() if value else b"\x01{}"


def _error_text(error: JobError) -> str:
    return _dumps(error.to_dict())


def _error_binary(error: JobError) -> bytes | None:
    return jsonb_binary(error.to_dict())


def _tags_text(tags: Sequence[str]) -> str:
    return _dumps(list(tags))


#: How each kind of job value is sent as a statement parameter: JSON as text,
#: cast to ``jsonb`` in SQL (one text per value, so a batch is one array per column).
_PARAMETER: Mapping[Kind, Conversion] = {
    Kind.TEXT: None,
    Kind.INTEGER: None,
    Kind.FLOAT: OrNone(float),
    Kind.TIME: OrNone(_utc),
    Kind.PRIORITY: PRIORITY_RANK,
    Kind.STATUS: STATUS_VALUE,
    Kind.JSON_LIST: _dumps,
    Kind.JSON_OBJECT: _dumps,
    Kind.JSON: OrNone(_dumps),
    Kind.ERROR: OrNone(_error_text),
    Kind.TAGS: list,
}

#: In an ``unnest`` batch: the same, but tags as JSON text, since arrays of
#: arrays must all have one length.
_ARRAY_ELEMENT: Mapping[Kind, Conversion] = {**_PARAMETER, Kind.TAGS: _tags_text}

#: In a binary COPY: jsonb and text[] values pre-encoded in their binary formats.
_COPY: Mapping[Kind, Conversion] = {
    **_PARAMETER,
    Kind.JSON_LIST: _jsonb_list,
    Kind.JSON_OBJECT: _jsonb_object,
    Kind.JSON: jsonb_binary,
    Kind.ERROR: OrNone(_error_binary),
    Kind.TAGS: text_array_binary,
}

#: How each kind comes back: psycopg makes aware datetimes; the JSON kinds
#: arrive parsed, in the bundle.
_DECODE: Mapping[Kind, Conversion] = {
    Kind.TEXT: None,
    Kind.INTEGER: None,
    Kind.FLOAT: None,
    Kind.TIME: None,
    Kind.PRIORITY: PRIORITY_BY_RANK,
    Kind.STATUS: STATUS_BY_VALUE,
    Kind.JSON_LIST: None,
    Kind.JSON_OBJECT: None,
    Kind.JSON: None,
    Kind.ERROR: OrNone(JobError.from_dict),
    Kind.TAGS: None,
    Kind.SEQUENCE: None,
}

#: Binary COPY types of the ``{{job_columns}}`` of ``copy_jobs``, in order.
COPY_TYPES: tuple[str, ...] = tuple(str(c.copy_type) for c in INSERTED)

_INSERTED_NAMES = tuple(c.name for c in INSERTED)
_parameters = compile_encoder(INSERTED, _PARAMETER, "postgres_job_parameters")
_array_elements = compile_encoder(INSERTED, _ARRAY_ELEMENT, "postgres_job_array_elements")
_copy_row = compile_encoder(INSERTED, _COPY, "postgres_job_copy_row")


def _value(column: JobColumn) -> str:
    """A column's placeholder in a VALUES row, cast where the parameter is JSON text."""
    placeholder = f"%({column.name})s"
    if column.postgres_type in ("jsonb", "text[]"):
        return f"{placeholder}::{column.postgres_type}"
    return placeholder


def _array(column: JobColumn) -> str:
    """A column's array parameter of ``unnest`` (JSON travels as text)."""
    element = "text" if column.kind in JSON_KINDS else column.postgres_type
    return f"%({column.name})s::{element}[]"


def _from_array(column: JobColumn) -> str:
    """A column's value selected from the ``unnest`` row, JSON text turned back."""
    if column.kind is Kind.TAGS:
        return f"ARRAY(SELECT jsonb_array_elements_text({column.name}::jsonb))"
    if column.kind in JSON_KINDS:
        return f"{column.name}::jsonb"
    return column.name


def _fields(prefix: str) -> str:
    """The column list of a job read: plain columns, then the JSON ones as one text."""
    plain = names([c for c in READ if not c.in_bundle], prefix)
    bundled = ", ".join(
        f"to_jsonb({prefix}{c.name})" if c.kind is Kind.TAGS else prefix + c.name for c in BUNDLED
    )
    return f"{plain},\n    jsonb_build_array({bundled})::text AS {BUNDLE}"


#: The ``{{slots}}`` of queries.sql, generated from the column spec.
QUERY_SLOTS: Mapping[str, str] = {
    "job_columns": names(INSERTED),
    "job_values": ", ".join(_value(c) for c in INSERTED),
    "job_arrays": ", ".join(_array(c) for c in INSERTED),
    "job_from_arrays": ", ".join(_from_array(c) for c in INSERTED),
    "job_fields": _fields(""),
    "claimed_job_fields": _fields("j."),
}


def job_columns(jobs: Sequence[Job]) -> dict[str, list[Any]]:
    """One array per column: the parameters of the unnest-based batch insert."""
    arrays = zip(*map(_array_elements, jobs), strict=True)
    return dict(zip(_INSERTED_NAMES, map(list, arrays), strict=True))


def job_rows(jobs: Iterable[Job]) -> Iterator[tuple[Any, ...]]:
    """One tuple per job, in ``COPY_TYPES`` order: the rows of a binary COPY."""
    return map(_copy_row, jobs)


def job_row(job: Job) -> dict[str, Any]:
    """Every column of one job: the parameters of the single-row insert."""
    return dict(zip(_INSERTED_NAMES, _parameters(job), strict=True))


@cache
def _reader(result_names: tuple[str, ...]) -> JobReader:
    return compile_reader(result_names, _DECODE)


_reader(READ_RESULT)  # every kind has its way back, and the usual shape is ready


def job_reader(description: Sequence[Any]) -> JobReader:
    """The reader of rows with this cursor description, by its column names."""
    return _reader(tuple(column.name for column in description))


def completion_batch(completions: Sequence[Completion]) -> str:
    """The ``complete_jobs`` parameter: one JSON array of [id, result, completed_at]."""
    return _dumps([[c.job_id, c.result, as_utc(c.completed_at).isoformat()] for c in completions])


def failure_columns(failures: Sequence[Failure]) -> dict[str, list[Any]]:
    return {
        "ids": [f.job_id for f in failures],
        "errors": [_dumps(f.error.to_dict()) for f in failures],
        "finished_at": [as_utc(f.finished_at) for f in failures],
        "statuses": [Status(f.status).value for f in failures],
        "retry_at": [utc(f.retry_at) for f in failures],
        "outcomes": [failure_outcome(f.status, f.error.type).value for f in failures],
    }


def schedule_params(schedule: Schedule, now: datetime) -> dict[str, Any]:
    interval = schedule.interval
    return {
        "id": schedule.id,
        "name": schedule.name,
        "task_name": schedule.task_name,
        "status": ScheduleStatus(schedule.status).value,
        "cron_expression": schedule.cron_expression,
        "interval": None if interval is None else _dumps(interval.to_dict()),
        "timezone": schedule.timezone,
        "args": _dumps(schedule.args),
        "kwargs": _dumps(schedule.kwargs),
        "queue_name": schedule.queue_name,
        "priority": Priority(schedule.priority).rank,
        "tags": list(schedule.tags),
        "metadata": _dumps(schedule.metadata),
        "max_retries": schedule.max_retries,
        "retry_delay": schedule.retry_delay,
        "timeout": schedule.timeout,
        "version": schedule.version,
        "last_run_at": utc(schedule.last_run_at),
        "next_run_at": utc(schedule.next_run_at),
        "created_at": utc(schedule.created_at) or now,
        "updated_at": utc(schedule.updated_at or schedule.created_at) or now,
        "revision": schedule.revision,
    }


def row_to_schedule(row: dict[str, Any]) -> Schedule:
    return Schedule(
        id=row["id"],
        name=row["name"],
        task_name=row["task_name"],
        status=ScheduleStatus(row["status"]),
        cron_expression=row["cron_expression"],
        interval=Interval.from_dict(row["interval"]),
        timezone=row["timezone"],
        args=row["args"],
        kwargs=row["kwargs"],
        queue_name=row["queue_name"],
        priority=Priority.from_rank(row["priority"]),
        tags=list(row["tags"]),
        metadata=row["metadata"],
        max_retries=row["max_retries"],
        retry_delay=row["retry_delay"],
        timeout=row["timeout"],
        version=row["version"],
        last_run_at=row["last_run_at"],
        next_run_at=row["next_run_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        revision=row["revision"],
    )
