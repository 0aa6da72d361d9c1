"""What every router needs: the JobSystem dependency, per-scope admission (the
token and the body size, checked before the body is read) and its error bodies
in OpenAPI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends

from uno.jobs.api.admission import Admission
from uno.jobs.api.auth import SystemProvider
from uno.jobs.api.dtos import ErrorDto


@dataclass(frozen=True, slots=True)
class RouteContext:
    """How routers reach the JobSystem, and whether they check tokens."""

    provider: SystemProvider
    include_auth: bool = True
    #: Whether the busiest routes may read their input on the fast path: only
    #: where no dependency but their admission applies (``uno.jobs.api.fast_path``).
    fast: bool = False

    def require(self, scope: str) -> list[Any]:
        """Route dependencies admitting only requests whose token carries ``scope``
        (when auth is on) and whose body is within the limit."""
        admission = Admission(self.provider, scope if self.include_auth else None)
        return [Depends(admission.dependency())]

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
