"""The one place where uno-jobs errors become HTTP status codes.

``STATUS_BY_ERROR`` maps an exception's type to its status; nothing else decides
one. ``answer`` turns a ``JobsError`` raised by the JobSystem, or a database
driver's error that escaped a store, into a JSON response with a ``detail``; the
routes of the Jobs API call it through ``JobsRoute`` (``uno.jobs.api.route``), so
route functions hold no error handling. A route that names what it was doing
(``failing_to("create job")``) gets that action in front of the ``detail``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import psycopg.errors
from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from uno.jobs.errors import (
    DuplicateJob,
    IllegalTransition,
    JobFailed,
    JobNotFound,
    JobsError,
    QueueNotFound,
    QueuePaused,
    ScheduleNotFound,
    StorageFull,
    StoreUnavailable,
    TaskNotFound,
    ValidationError,
    WaitAbandoned,
    WaitTimeout,
)
from uno.jobs.jobs import JobError
from uno.jobs.limits import clip_text, text_fault

log = logging.getLogger("uno.jobs.api")

#: Most specific first: the first matching class decides. Besides the domain's
#: errors, the database drivers' errors that mean the database (not the caller)
#: failed: locked, unreachable, out of connections, cancelled by a timeout,
#: damaged, full. Their text names the cause, so it becomes the ``detail``.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (JobNotFound, 404),
    (ScheduleNotFound, 404),
    (QueueNotFound, 404),
    (TaskNotFound, 400),
    (ValidationError, 400),
    (DuplicateJob, 409),
    (IllegalTransition, 409),
    (QueuePaused, 409),
    (JobFailed, 500),
    (WaitTimeout, 504),
    (StorageFull, 507),
    (StoreUnavailable, 503),
    (WaitAbandoned, 503),
    (psycopg.errors.DiskFull, 507),
    (psycopg.OperationalError, 503),  # with the pool's PoolTimeout and statement timeouts
    (psycopg.InterfaceError, 503),
    (sqlite3.OperationalError, 503),  # locked, disk I/O error, unable to open
    (sqlite3.DatabaseError, 503),  # a damaged or foreign database file
)

#: The longest driver message kept in a ``detail``: its first line, cut here.
MAX_FAULT_DETAIL = 300


class ActionFailed(Exception):
    """A domain error raised while a route did ``action``; answers as ``error`` does."""

    def __init__(self, action: str, error: JobsError) -> None:
        super().__init__(f"Failed to {action}: {error}")
        self.action = action
        self.error = error


@contextlib.contextmanager
def failing_to(action: str) -> Iterator[None]:
    """Name the action a domain error interrupted: ``Failed to create job: ...``.

    Only domain errors are named: a store fault's ``detail`` names the store.
    """
    try:
        yield
    except JobsError as exc:
        raise ActionFailed(action, exc) from exc


def status_for(exc: Exception) -> int:
    """The status ``exc`` answers with; 500 for an error of none of the known kinds."""
    if isinstance(exc, ActionFailed):
        return status_for(exc.error)
    if isinstance(exc, JobFailed) and exc.status == "timeout":
        return 504  # the job ran past its timeout: the same answer as waiting past it
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status
    return 500


def detail_for(exc: Exception) -> str:
    if isinstance(exc, ActionFailed):
        return f"Failed to {exc.action}: {detail_for(exc.error)}"
    if not isinstance(exc, JobsError):
        return store_fault_detail(exc)
    if isinstance(exc, JobFailed):
        error = exc.error
        if isinstance(error, JobError):
            return f"Job {exc.job_id} ended {exc.status}: {error.type}: {error.message}"
        return f"Job {exc.job_id} ended {exc.status}"
    return str(exc)


def store_fault_detail(exc: Exception) -> str:
    """A driver error's first line, kept short: it names the cause (locked, refused...)."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else type(exc).__name__
    if len(message) > MAX_FAULT_DETAIL:
        message = message[:MAX_FAULT_DETAIL] + "..."
    return f"The job store failed: {message}"


def is_mapped(exc: Exception) -> bool:
    """Whether ``exc`` is a domain error or a store fault with its own status."""
    return isinstance(exc, JobsError | ActionFailed) or any(
        isinstance(exc, error_type) for error_type, _ in STATUS_BY_ERROR
    )


def error_response(exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": detail_for(exc)}, status_code=status_for(exc))


def mapped_error(exc: Exception, where: str) -> JSONResponse | None:
    """The response of a domain error or a store fault (logged when the server's);
    ``None`` for any other error, which is a bug."""
    if not is_mapped(exc):
        return None
    status = status_for(exc)
    cause = exc.error if isinstance(exc, ActionFailed) else exc
    if status >= 500 and not isinstance(cause, JobFailed | WaitTimeout | WaitAbandoned):
        log.error("%s failed: %s: %s", where, type(cause).__name__, cause)
    return error_response(exc)


async def answer(request: Request, call: Callable[[], Awaitable[Response]], where: str) -> Response:
    """``call()``'s response, with an error turned into its status and ``detail``."""
    try:
        return await call()
    except RequestValidationError as exc:
        return validation_error(exc)
    except HTTPException:
        raise
    except Exception as exc:
        return mapped_error(exc, where) or await unhandled_error(request, exc)


def validation_error(exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 body, with the input it echoes made encodable.

    FastAPI's usual answer echoes the input, which may not encode (NaN, lone
    surrogates) or may be nested too deep to encode without recursing past the
    interpreter's limit: an encodable copy of it is echoed instead.
    """
    errors = jsonable_encoder(_echoable(exc.errors()))
    return JSONResponse({"detail": errors}, status_code=422)


async def unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: a store fault's own status, else a JSON 500 with a ``detail``."""
    mapped = mapped_error(exc, f"{request.method} {request.url.path}")
    if mapped is not None:
        return mapped
    log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


#: How deep a 422 answer echoes the input; deeper lists and objects are elided.
ECHO_DEPTH = 32


def _echoable(value: Any, depth: int = ECHO_DEPTH) -> Any:
    """``value`` made encodable as JSON: NaN and the infinities by name, lone
    surrogates replaced, lists and objects below ``depth`` levels elided."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return clip_text(value, len(value) + 20) if text_fault(value) else value
    if isinstance(value, dict | list | tuple):
        if depth <= 0:
            return "[...]"
        if isinstance(value, dict):
            return {_echoable(k, 1): _echoable(v, depth - 1) for k, v in value.items()}
        return [_echoable(v, depth - 1) for v in value]
    return value
