"""Worker endpoints (an addition to the reference): the workers sharing the
database, their state and counts, and the work no live worker can run."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from uno.jobs import job_control
from uno.jobs.api.auth import SCOPE_READ
from uno.jobs.api.dtos.control import TaskBacklogDto, WorkerDto, WorkerListDto
from uno.jobs.api.route import JobsRoute
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.errors import WorkerNotFound
from uno.jobs.system import JobSystem


def build_router(ctx: RouteContext) -> APIRouter:
    router = APIRouter(prefix="/workers", tags=["workers"], route_class=JobsRoute)
    read = ctx.require(SCOPE_READ)
    system_dep = Depends(ctx.provider)

    @router.get(
        "",
        name="list_workers",
        response_model=WorkerListDto,
        dependencies=read,
        responses=ctx.responses(),
        summary="List Workers",
    )
    async def list_workers(system: JobSystem = system_dep) -> WorkerListDto:
        """Every worker kept: alive, silent (heartbeats late) or gone (kept for the
        retention, then pruned), and the waiting jobs no live worker can run."""
        views = await job_control.workers(system)
        backlog = await job_control.backlog(system)
        return WorkerListDto(
            items=[WorkerDto.from_view(v) for v in views],
            total=len(views),
            waiting_for_workers=[TaskBacklogDto.from_domain(b) for b in backlog if not b.runnable],
        )

    @router.get(
        "/{worker_id}",
        name="get_worker",
        response_model=WorkerDto,
        dependencies=read,
        responses=ctx.responses(404),
        summary="Get Worker",
    )
    async def get_worker(worker_id: str, system: JobSystem = system_dep) -> WorkerDto:
        """One worker with the ids of the jobs it runs now."""
        view = await job_control.worker(system, worker_id)
        if view is None:
            raise WorkerNotFound(f"Worker not found: {worker_id}")
        return WorkerDto.from_view(view)

    return router
