"""Conversions between domain objects and PostgreSQL rows and parameters.

JSON goes in as text cast to ``jsonb`` in SQL (one array per column, so a batch is
one statement); rows come back as dicts whose ``jsonb`` values psycopg has parsed.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from uno.jobs.clock import as_utc
from uno.jobs.jobs import Job, JobError, Priority, Status
from uno.jobs.schedules import Interval, Schedule, ScheduleStatus
from uno.jobs.store.base import Completion, Failure


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


JOB_COLUMNS = (
    "id",
    "task_name",
    "version",
    "args",
    "kwargs",
    "queue_name",
    "priority",
    "status",
    "scheduled_at",
    "created_at",
    "started_at",
    "completed_at",
    "result",
    "error",
    "retry_count",
    "max_retries",
    "retry_delay",
    "tags",
    "metadata",
    "worker_id",
    "timeout",
)


#: Binary COPY types of ``JOB_COLUMNS``, in order. ``jsonb`` and ``text[]`` values are
#: sent pre-encoded (``jsonb_binary``, ``text_array_binary``) as ``bytea``, which
#: binary COPY passes through untouched: cheaper than psycopg's generic dumpers.
COPY_TYPES = (
    "text",
    "text",
    "text",
    "bytea",
    "bytea",
    "text",
    "int2",
    "text",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "bytea",
    "bytea",
    "int4",
    "int4",
    "float8",
    "bytea",
    "bytea",
    "text",
    "float8",
)


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


def utc(when: datetime | None) -> datetime | None:
    return None if when is None else as_utc(when)


def job_columns(jobs: Sequence[Job]) -> dict[str, list[Any]]:
    """One array per column: the parameters of the unnest-based batch insert."""
    cols: dict[str, list[Any]] = {name: [] for name in JOB_COLUMNS}
    for job in jobs:
        cols["id"].append(job.id)
        cols["task_name"].append(job.task_name)
        cols["version"].append(job.version)
        cols["args"].append(_dumps(job.args))
        cols["kwargs"].append(_dumps(job.kwargs))
        cols["queue_name"].append(job.queue_name)
        cols["priority"].append(Priority(job.priority).rank)
        cols["status"].append(Status(job.status).value)
        cols["scheduled_at"].append(utc(job.scheduled_at or job.created_at))
        cols["created_at"].append(utc(job.created_at or job.scheduled_at))
        cols["started_at"].append(utc(job.started_at))
        cols["completed_at"].append(utc(job.completed_at))
        cols["result"].append(None if job.result is None else _dumps(job.result))
        cols["error"].append(None if job.error is None else _dumps(job.error.to_dict()))
        cols["retry_count"].append(job.retry_count)
        cols["max_retries"].append(job.max_retries)
        cols["retry_delay"].append(float(job.retry_delay))
        cols["tags"].append(_dumps(list(job.tags)))
        cols["metadata"].append(_dumps(job.metadata))
        cols["worker_id"].append(job.worker_id)
        cols["timeout"].append(None if job.timeout is None else float(job.timeout))
    return cols


def job_rows(jobs: Iterable[Job]) -> Iterator[tuple[Any, ...]]:
    """One tuple per job, in ``JOB_COLUMNS`` order: the rows of a binary COPY.

    This runs once per job of a bulk insert, so what the jobs of a batch share
    (their creation time, their status and priority) is converted once.
    """
    last_time: datetime | None = None
    last_utc: datetime | None = None
    codes: dict[Any, tuple[int, str]] = {}
    for job in jobs:
        created = job.created_at or job.scheduled_at
        scheduled = job.scheduled_at or created
        if created is not last_time:
            last_time, last_utc = created, utc(created)
        created_utc = last_utc
        scheduled_utc = created_utc if scheduled is created else utc(scheduled)
        key = (job.priority, job.status)
        try:
            rank, status = codes[key]
        except KeyError:
            rank, status = codes[key] = (Priority(job.priority).rank, Status(job.status).value)
        args, kwargs, tags, metadata = job.args, job.kwargs, job.tags, job.metadata
        yield (
            job.id,
            job.task_name,
            job.version,
            b"\x01" + _dumps(args).encode() if args else b"\x01[]",
            b"\x01" + _dumps(kwargs).encode() if kwargs else b"\x01{}",
            job.queue_name,
            rank,
            status,
            scheduled_utc,
            created_utc,
            utc(job.started_at),
            utc(job.completed_at),
            jsonb_binary(job.result),
            None if job.error is None else jsonb_binary(job.error.to_dict()),
            job.retry_count,
            job.max_retries,
            float(job.retry_delay),
            text_array_binary(tags) if tags else _EMPTY_TEXT_ARRAY,
            b"\x01" + _dumps(metadata).encode() if metadata else b"\x01{}",
            job.worker_id,
            None if job.timeout is None else float(job.timeout),
        )


def job_row(job: Job) -> dict[str, Any]:
    """Every column of one job: the parameters of the single-row insert."""
    return {
        "id": job.id,
        "task_name": job.task_name,
        "version": job.version,
        "args": _dumps(job.args),
        "kwargs": _dumps(job.kwargs),
        "queue_name": job.queue_name,
        "priority": Priority(job.priority).rank,
        "status": Status(job.status).value,
        "scheduled_at": utc(job.scheduled_at or job.created_at),
        "created_at": utc(job.created_at or job.scheduled_at),
        "started_at": utc(job.started_at),
        "completed_at": utc(job.completed_at),
        "result": None if job.result is None else _dumps(job.result),
        "error": None if job.error is None else _dumps(job.error.to_dict()),
        "retry_count": job.retry_count,
        "max_retries": job.max_retries,
        "retry_delay": float(job.retry_delay),
        "tags": list(job.tags),
        "metadata": _dumps(job.metadata),
        "worker_id": job.worker_id,
        "timeout": None if job.timeout is None else float(job.timeout),
    }


def job_params(job: Job) -> dict[str, Any]:
    """The parameters of ``fire_schedule``'s job insert: ``job_row`` with the id as job_id."""
    params = job_row(job)
    params["job_id"] = params.pop("id")
    return params


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
    }


_PRIORITIES = tuple(Priority.from_rank(rank) for rank in range(4))
_STATUSES = {status.value: status for status in Status}
_loads = json.loads


def fetched_row_to_job(row: tuple[Any, ...]) -> Job:
    """A Job from a row of ``fetch_jobs``: the hot path, so positional and lean."""
    (
        job_id,
        task_name,
        version,
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
        _seq,
        blob,
    ) = row
    args, kwargs, tags, metadata, result, error = _loads(blob)
    return Job(
        task_name,
        job_id,
        args,
        kwargs,
        queue_name,
        _PRIORITIES[priority],
        _STATUSES[status],
        scheduled_at,
        created_at,
        started_at,
        completed_at,
        result,
        JobError.from_dict(error) if error else None,
        retry_count,
        max_retries,
        retry_delay,
        tags or [],
        metadata,
        worker_id,
        timeout,
        version,
    )


def row_to_job(row: dict[str, Any]) -> Job:
    return Job(
        id=row["id"],
        task_name=row["task_name"],
        version=row["version"],
        args=row["args"],
        kwargs=row["kwargs"],
        queue_name=row["queue_name"],
        priority=Priority.from_rank(row["priority"]),
        status=Status(row["status"]),
        scheduled_at=row["scheduled_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        result=row["result"],
        error=JobError.from_dict(row["error"]),
        retry_count=row["retry_count"],
        max_retries=row["max_retries"],
        retry_delay=row["retry_delay"],
        tags=list(row["tags"]),
        metadata=row["metadata"],
        worker_id=row["worker_id"],
        timeout=row["timeout"],
    )


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
