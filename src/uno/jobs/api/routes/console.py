"""The console's own reads (additions to the reference, under ``jobs:read``): the
overview with its per-minute history, why a job is waiting, and what the caller's
token allows. The logic is in ``uno.jobs.console``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from uno.jobs.api.auth import PRINCIPAL_KEY, SCOPE_READ, Principal, admit, bearer_scheme
from uno.jobs.api.dtos.common import StatusEnum
from uno.jobs.api.dtos.console import (
    OverviewDto,
    SessionDto,
    WaitReasonDto,
    WaitReasonsDto,
)
from uno.jobs.api.route import JobsRoute
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.console import overview, wait_reasons
from uno.jobs.jobs import WAITING
from uno.jobs.system import JobSystem


# long: route declarations; each handler is a few lines, the rest is their OpenAPI
# (status codes, summaries), which FastAPI reads from the decorators.
def build_router(ctx: RouteContext) -> APIRouter:
    router = APIRouter(tags=["console"], route_class=JobsRoute)
    read = ctx.require(SCOPE_READ)
    system_dep = Depends(ctx.provider)

    @router.get(
        "/console/overview",
        name="console_overview",
        response_model=OverviewDto,
        dependencies=read,
        responses=ctx.responses(),
        summary="Console Overview",
    )
    async def console_overview(
        minutes: Annotated[
            int, Query(ge=1, description="Minutes of history (at most max_history_minutes)")
        ] = 60,
        system: JobSystem = system_dep,
    ) -> OverviewDto:
        """Jobs enqueued, completed and failed per minute (from the store, so the same
        in every API process and across restarts), queues with the age of their
        oldest due job, the job statistics and the failure rate of the window."""
        return OverviewDto.from_domain(await overview(system, minutes))

    @router.get(
        "/jobs/{job_id}/wait-reasons",
        name="job_wait_reasons",
        response_model=WaitReasonsDto,
        dependencies=read,
        responses=ctx.responses(404),
        summary="Why Is This Job Waiting",
        tags=["jobs"],
    )
    async def job_wait_reasons(job_id: str, system: JobSystem = system_dep) -> WaitReasonsDto:
        """Why a waiting job has not run yet: its queue is paused, no live worker
        takes its queue or has its task (at the version it names), it is scheduled
        for later or waits for its retry backoff (until when), or how many due jobs
        of its queue come first."""
        job, reasons = await wait_reasons(system, job_id)
        return WaitReasonsDto(
            job_id=job.id,
            status=StatusEnum(job.status.value),
            waiting=job.status in WAITING,
            reasons=[WaitReasonDto.from_domain(r) for r in reasons],
        )

    @router.get(
        "/console/session",
        name="console_session",
        response_model=SessionDto,
        dependencies=read,
        responses=ctx.responses(),
        summary="What This Token Allows",
    )
    async def console_session(request: Request, system: JobSystem = system_dep) -> SessionDto:
        """The token's subject and scopes as the server reads them; the console
        shows only the actions they allow (the API checks every action anyway)."""
        if not ctx.include_auth:
            return SessionDto(auth=False, subject=None, scopes=[])
        principal: Principal | None = request.scope.get(PRINCIPAL_KEY)
        if principal is None:  # admitted by FastAPI's dependency, not by the route
            principal = await admit(system, SCOPE_READ, await bearer_scheme(request))
        return SessionDto(auth=True, subject=principal.subject, scopes=sorted(principal.scopes))

    return router
