"""The one place where uno-jobs errors become HTTP status codes.

Routes of the Jobs API use ``JobsRoute``: it turns a ``JobsError`` raised by the
JobSystem, or a database driver's error that escaped a store, into a JSON
response with a ``detail``, so route functions hold no error handling and the
mapping works on a bare ``APIRouter`` too. Before anything reads the body it
admits the request (token and body size, see ``uno.jobs.api.admission``), then
tries the route's lean handler (see ``uno.jobs.api.lean``) before FastAPI's own.
"""

from __future__ import annotations

import functools
import logging
import math
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from uno.jobs.api.admission import Admission, admission_of
from uno.jobs.api.lean import lean_handler_of, may_serve_lean, replay_body
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
    WorkerNotFound,
)
from uno.jobs.jobs import JobError
from uno.jobs.limits import clip_text, text_fault

log = logging.getLogger("uno.jobs.api")
#: A handler's answer: a response, or ``None`` from a lean handler that declines.
Answer = TypeVar("Answer", Response, Response | None)

#: Most specific first: the first matching class decides. Besides the domain's
#: errors, the database drivers' errors that mean the database (not the caller)
#: failed: locked, unreachable, out of connections, cancelled by a timeout,
#: damaged, full. Their text names the cause, so it becomes the ``detail``.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (JobNotFound, 404),
    (ScheduleNotFound, 404),
    (QueueNotFound, 404),
    (WorkerNotFound, 404),
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


@dataclass(frozen=True, slots=True)
class RouteErrors:
    """How one route words its errors: an action prefix and status overrides."""

    action: str | None = None
    overrides: dict[type[JobsError], int] = field(default_factory=dict)


#: By route name. A task lookup by name answers 404, not the 400 of enqueueing one.
ROUTE_ERRORS: dict[str, RouteErrors] = {
    "create_job": RouteErrors("create job"),
    "run_job_sync": RouteErrors("run job"),
    "cancel_job": RouteErrors("cancel job"),
    "retry_job": RouteErrors("retry job"),
    "create_schedule": RouteErrors("create schedule"),
    "update_schedule": RouteErrors("update schedule"),
    "get_task": RouteErrors(overrides={TaskNotFound: 404}),
}


def status_for(exc: Exception, route_name: str | None = None) -> int:
    """The status ``exc`` answers with; 500 for an error of none of the known kinds."""
    if isinstance(exc, JobFailed) and exc.status == "timeout":
        return 504  # the job ran past its timeout: the same answer as waiting past it
    rules = ROUTE_ERRORS.get(route_name or "", RouteErrors())
    for override, status in rules.overrides.items():
        if isinstance(exc, override):
            return status
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status
    return 500


def detail_for(exc: Exception, route_name: str | None = None) -> str:
    if not isinstance(exc, JobsError):
        return store_fault_detail(exc)
    if isinstance(exc, JobFailed):
        error = exc.error
        if isinstance(error, JobError):
            message = f"Job {exc.job_id} ended {exc.status}: {error.type}: {error.message}"
        else:
            message = f"Job {exc.job_id} ended {exc.status}"
    else:
        message = str(exc)
    rules = ROUTE_ERRORS.get(route_name or "")
    if rules and rules.action:
        return f"Failed to {rules.action}: {message}"
    return message


def store_fault_detail(exc: Exception) -> str:
    """A driver error's first line, kept short: it names the cause (locked, refused...)."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else type(exc).__name__
    if len(message) > MAX_FAULT_DETAIL:
        message = message[:MAX_FAULT_DETAIL] + "..."
    return f"The job store failed: {message}"


def is_mapped(exc: Exception) -> bool:
    """Whether ``exc`` is a domain error or a store fault with its own status."""
    return isinstance(exc, JobsError) or any(
        isinstance(exc, error_type) for error_type, _ in STATUS_BY_ERROR
    )


def error_response(exc: Exception, route_name: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"detail": detail_for(exc, route_name)}, status_code=status_for(exc, route_name)
    )


def mapped_error(exc: Exception, route_name: str) -> JSONResponse | None:
    """The response of a domain error or a store fault (logged when the server's);
    ``None`` for any other error, which is a bug."""
    if not is_mapped(exc):
        return None
    status = status_for(exc, route_name)
    if status >= 500 and not isinstance(exc, JobFailed | WaitTimeout | WaitAbandoned):
        log.error("%s failed: %s: %s", route_name, type(exc).__name__, exc)
    return error_response(exc, route_name)


class JobsRoute(APIRoute):
    """An APIRoute that admits a request before reading its body, and whose domain
    errors and store faults answer with their mapped status and a detail.

    A route with a lean handler tries it next, before FastAPI wraps the request;
    what the lean handler leaves goes to FastAPI's handler as on any route.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        name = self.name

        async def handle(request: Request) -> Response:
            return await answer(request, handler, name)

        return handle

    @functools.cached_property
    def admission(self) -> Admission | None:
        return admission_of(self.dependencies)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        ours = scope["type"] == "http" and scope["method"] in (self.methods or ())
        if ours and self.admission is not None:
            try:
                receive = await self.admission.admit(scope, receive)
            except HTTPException:
                raise  # the app's handler words it, as it words FastAPI's own
            except Exception as exc:
                refused = mapped_error(exc, self.name) or await unhandled_error(
                    Request(scope, receive, send), exc
                )
                await refused(scope, receive, send)
                return
        lean = lean_handler_of(self.endpoint)
        if lean is None or not ours or not may_serve_lean(scope):
            await super().handle(scope, receive, send)
            return
        request = Request(scope, receive, send)
        response = await answer(request, lean, self.name)
        if response is None:
            await super().handle(scope, replay_body(request, receive), send)
            return
        await response(scope, receive, send)


async def answer(
    request: Request, handler: Callable[[Request], Awaitable[Answer]], name: str
) -> Answer | JSONResponse:
    """``handler``'s response, with a domain error turned into its status and detail."""
    try:
        return await handler(request)
    except RequestValidationError as exc:
        # FastAPI's usual 422 body echoes the input, which may not encode (NaN,
        # lone surrogates) or may be nested too deep to encode without recursing
        # past the interpreter's limit: echo an encodable copy of it instead.
        errors = jsonable_encoder(_echoable(exc.errors()))
        return JSONResponse({"detail": errors}, status_code=422)
    except HTTPException:
        raise
    except Exception as exc:
        return mapped_error(exc, name) or await unhandled_error(request, exc)


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
