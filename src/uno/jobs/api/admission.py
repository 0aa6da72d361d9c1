"""Admission: whether a request may reach a Jobs API route, decided before its body is read.

Two questions are answered from the request's head alone, so that neither an
anonymous caller nor a huge body costs the server more than reading headers:

- the bearer token: without a valid token carrying the route's scope a request
  answers 401 or 403 before its body is read, let alone parsed;
- the body size: a ``Content-Length`` above ``Limits.max_body_bytes`` answers 413
  at once, and a body sent without one (chunked) is counted as it arrives and
  refused with 413 as soon as it passes the limit.

``RouteContext.require`` gives every route an ``Admission`` among its
dependencies, and ``JobsRoute`` (``uno.jobs.api.route``) admits each request
before FastAPI's handler sees it, here as on routers mounted into a user's app with
``register_jobs_endpoints``. The same dependency is FastAPI's own check of the
token, which finds the admitted caller and does not verify the token twice.

An app with dependency overrides (a test double of the token or of the job
system) is left to FastAPI's order, where the overrides apply: the body limit
still holds, but the token is checked after the body is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from fastapi.params import Depends
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope

from uno.jobs.api.auth import (
    PRINCIPAL_KEY,
    SystemProvider,
    admit,
    bearer_scheme,
    scope_dependency,
)
from uno.jobs.limits import DEFAULT_LIMITS, Limits
from uno.jobs.system import JobSystem

_ATTRIBUTE = "__uno_jobs_admission__"
_UNOPENED = "__uno_jobs_unopened__"


def without_opening(provider: SystemProvider, unopened: Callable[[], JobSystem]) -> SystemProvider:
    """Mark ``provider`` with a way to reach its system without opening the store.

    Admission needs only the system's settings (keys and limits), so a request
    without a valid token is refused without touching the database.
    """
    setattr(provider, _UNOPENED, unopened)
    return provider


@dataclass(frozen=True, slots=True)
class Admission:
    """What a route asks of a request before reading its body."""

    provider: SystemProvider
    #: The scope the bearer token must carry; ``None``: no token is asked for.
    scope: str | None = None

    def dependency(self) -> Callable[..., Awaitable[Any]]:
        """The route dependency that carries this admission (and checks the token)."""
        if self.scope is None:

            async def within_limits() -> None:
                """No token is asked for; the admission bounds the body."""

            dependency: Callable[..., Awaitable[Any]] = within_limits
        else:
            dependency = scope_dependency(self.scope, self.provider)
        setattr(dependency, _ATTRIBUTE, self)
        return dependency

    async def admit(self, scope: Scope, receive: Receive) -> Receive:
        """Check the token, then the declared body size; ``receive`` bounded to the limit.

        Raises the 401, 403 or 413 to answer with.
        """
        overrides = getattr(scope.get("app"), "dependency_overrides", None) or {}
        unopened: Callable[[], JobSystem] | None = getattr(self.provider, _UNOPENED, None)
        system: JobSystem | None = None
        if self.provider not in overrides:
            system = unopened() if unopened is not None else await self.provider()
        if self.scope is not None and system is not None and not overrides:
            credentials = await bearer_scheme(Request(scope))
            scope[PRINCIPAL_KEY] = await admit(system, self.scope, credentials)
        limits: Limits = system.settings.limits if system is not None else DEFAULT_LIMITS
        return bounded_body(scope, receive, limits.max_body_bytes)


def admission_of(dependencies: Iterable[Depends]) -> Admission | None:
    """The admission among a route's dependencies, if it has one."""
    for dependency in dependencies:
        admission = getattr(dependency.dependency, _ATTRIBUTE, None)
        if isinstance(admission, Admission):
            return admission
    return None


def body_too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        413, detail=f"Request body is larger than {max_bytes} bytes (UNO_JOBS_MAX_BODY_BYTES)"
    )


def bounded_body(scope: Scope, receive: Receive, max_bytes: int) -> Receive:
    """``receive`` that raises a 413 once the body passes ``max_bytes``.

    A declared ``Content-Length`` above the limit is refused here, before a byte
    of the body is read.
    """
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes):
        raise body_too_large(max_bytes)
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise body_too_large(max_bytes)
        return message

    return receive_within_limit
