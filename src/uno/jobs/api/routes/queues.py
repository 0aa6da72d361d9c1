"""Queue endpoints: list, and (with jobs:admin) pause, resume, clear."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from uno.jobs.api.auth import SCOPE_ADMIN, SCOPE_READ
from uno.jobs.api.dtos import QueueListDto
from uno.jobs.api.route import JobsRoute
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.system import JobSystem


# long: route declarations; each handler is a few lines, the rest is their OpenAPI
# (status codes, summaries), which FastAPI reads from the decorators.
def build_router(ctx: RouteContext) -> APIRouter:
    router = APIRouter(prefix="/queues", tags=["queues"], route_class=JobsRoute)
    read, admin = ctx.require(SCOPE_READ), ctx.require(SCOPE_ADMIN)
    system_dep = Depends(ctx.provider)

    @router.get(
        "",
        name="list_queues",
        response_model=QueueListDto,
        dependencies=read,
        responses=ctx.responses(),
        summary="List Queues",
    )
    async def list_queues(
        limit: Annotated[
            int | None,
            Query(ge=1, description="Queues to return (default_queue_page when left out)"),
        ] = None,
        offset: Annotated[int, Query(ge=0, description="Queues to skip")] = 0,
        system: JobSystem = system_dep,
    ) -> QueueListDto:
        """Queues a task, a job or a pause names, with their waiting jobs, by name.

        ``total`` counts them all; ``limit`` is at most ``max_page_size``.
        """
        page = system.settings.limits.default_queue_page if limit is None else limit
        queues, total = await system.queue_page(page, offset)
        return QueueListDto.from_page(queues, total)

    @router.post(
        "/{queue_name}/pause",
        name="pause_queue",
        status_code=204,
        response_class=Response,
        dependencies=admin,
        responses=ctx.responses(404),
        summary="Pause Queue",
    )
    async def pause_queue(queue_name: str, system: JobSystem = system_dep) -> Response:
        """Stop every worker on every machine from fetching the queue's jobs."""
        await system.pause_queue(queue_name)
        return Response(status_code=204)

    @router.post(
        "/{queue_name}/resume",
        name="resume_queue",
        status_code=204,
        response_class=Response,
        dependencies=admin,
        responses=ctx.responses(404),
        summary="Resume Queue",
    )
    async def resume_queue(queue_name: str, system: JobSystem = system_dep) -> Response:
        await system.resume_queue(queue_name)
        return Response(status_code=204)

    @router.post(
        "/{queue_name}/clear",
        name="clear_queue",
        status_code=204,
        response_class=Response,
        dependencies=admin,
        responses=ctx.responses(404),
        summary="Clear Queue",
    )
    async def clear_queue(queue_name: str, system: JobSystem = system_dep) -> Response:
        """Delete the queue's waiting jobs (pending and retrying)."""
        await system.clear_queue(queue_name)
        return Response(status_code=204)

    return router
