"""The one place where uno-jobs errors become HTTP status codes.

Routes of the Jobs API use ``JobsRoute``: it turns a ``JobsError`` raised by the
JobSystem into a JSON response with a ``detail``, so route functions hold no
error handling and the mapping works on a bare ``APIRouter`` too. It also tries
a route's lean handler (see ``uno.jobs.api.lean``) before FastAPI's own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from uno.jobs.api.lean import lean_handler_of, may_serve_lean, replay_body
from uno.jobs.errors import (
    DuplicateJob,
    IllegalTransition,
    JobFailed,
    JobNotFound,
    JobsError,
    QueueNotFound,
    ScheduleNotFound,
    StoreUnavailable,
    TaskNotFound,
    ValidationError,
    WaitTimeout,
)
from uno.jobs.jobs import JobError
from uno.jobs.limits import clip_text, text_fault

log = logging.getLogger("uno.jobs.api")
#: A handler's answer: a response, or ``None`` from a lean handler that declines.
Answer = TypeVar("Answer", Response, Response | None)

#: Most specific first: the first matching class decides.
STATUS_BY_ERROR: tuple[tuple[type[JobsError], int], ...] = (
    (JobNotFound, 404),
    (ScheduleNotFound, 404),
    (QueueNotFound, 404),
    (TaskNotFound, 400),
    (ValidationError, 400),
    (DuplicateJob, 409),
    (IllegalTransition, 409),
    (JobFailed, 500),
    (WaitTimeout, 504),
    (StoreUnavailable, 503),
)


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


def status_for(exc: JobsError, route_name: str | None = None) -> int:
    if isinstance(exc, JobFailed) and exc.status == "timeout":
        return 504  # the job ran past its timeout: the same answer as waiting past it
    rules = ROUTE_ERRORS.get(route_name or "", RouteErrors())
    for error_type, status in rules.overrides.items():
        if isinstance(exc, error_type):
            return status
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status
    return 500


def detail_for(exc: JobsError, route_name: str | None = None) -> str:
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


def error_response(exc: JobsError, route_name: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"detail": detail_for(exc, route_name)}, status_code=status_for(exc, route_name)
    )


class JobsRoute(APIRoute):
    """An APIRoute whose domain errors answer with their mapped status and a detail.

    A route with a lean handler tries it first, before FastAPI wraps the request;
    what the lean handler leaves goes to FastAPI's handler as on any route.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        name = self.name

        async def handle(request: Request) -> Response:
            return await answer(request, handler, name)

        return handle

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        lean = lean_handler_of(self.endpoint)
        if lean is None or scope["method"] not in (self.methods or ()) or not may_serve_lean(scope):
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
    except JobsError as exc:
        status = status_for(exc, name)
        if status >= 500 and not isinstance(exc, JobFailed | WaitTimeout):
            log.error("%s failed: %s", name, exc)
        return error_response(exc, name)
    except Exception as exc:
        return await unhandled_error(request, exc)


async def unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: a JSON 500 with a ``detail`` rather than plain text."""
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
