"""What every router needs: the JobSystem dependency, per-scope admission (the
token and the body size, checked before the body is read) and, where the app
allows it, lean handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from uno.jobs.api.admission import Admission
from uno.jobs.api.auth import SystemProvider, admit_request
from uno.jobs.api.dtos import ErrorDto
from uno.jobs.api.lean import Endpoint, LeanHandler, serve_lean
from uno.jobs.system import JobSystem


@dataclass(frozen=True, slots=True)
class RouteContext:
    """How routers reach the JobSystem, and whether they check tokens."""

    provider: SystemProvider
    include_auth: bool = True
    #: Whether busy endpoints may answer through lean handlers: only when the
    #: routes carry no dependencies beyond the system and the auth guard.
    lean: bool = False

    def require(self, scope: str) -> list[Any]:
        """Route dependencies admitting only requests whose token carries ``scope``
        (when auth is on) and whose body is within the limit."""
        admission = Admission(self.provider, scope if self.include_auth else None)
        return [Depends(admission.dependency())]

    def lean_handler(self, handler: LeanHandler) -> Callable[[Endpoint], Endpoint]:
        """Serve an endpoint's happy path through ``handler`` when ``lean`` allows it."""
        return serve_lean(handler if self.lean else None)

    async def admit(self, request: Request, scope: str) -> JobSystem:
        """What the guard and the system dependency do, for a lean handler."""
        system = await self.provider()
        if self.include_auth:
            await admit_request(request, system, scope)
        return system

    def responses(self, *statuses: int) -> dict[int | str, dict[str, Any]]:
        """OpenAPI error bodies of a route: its own statuses, those of admission and
        the store's."""
        admission = {400, 413} | ({401, 403} if self.include_auth else set())
        codes = set(statuses) | admission | {503}
        return {
            code: {"model": ErrorDto, "description": _DESCRIPTIONS.get(code, "Error")}
            for code in sorted(codes)
        }


_DESCRIPTIONS = {
    400: "Invalid input",
    401: "No, malformed, expired or wrongly signed token",
    403: "The token lacks the required scope",
    404: "Not found",
    409: "Conflict with the job's current state, or a duplicate id",
    413: "The request body is larger than the limit",
    500: "The task raised",
    503: "The store failed, or signing keys are unreachable",
    504: "The job did not finish within its timeout",
}
