"""Job endpoints: list, get, create, cancel, retry, run-sync, stats."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from starlette.types import Receive

from uno.jobs import job_control
from uno.jobs.api.auth import SCOPE_READ, SCOPE_WRITE
from uno.jobs.api.dtos import (
    MAX_PAGE_SIZE,
    CancelJobDto,
    CreateJobDto,
    JobListDto,
    JobListQuery,
    JobStatsDto,
    JobViewDto,
    PriorityEnum,
    RunSyncJobDto,
    StatusEnum,
)
from uno.jobs.api.dtos.common import MAX_OFFSET
from uno.jobs.api.dtos.control import JobDetailDto
from uno.jobs.api.dtos.jobs import OrderDir
from uno.jobs.api.errors import JobsRoute
from uno.jobs.api.lean import json_response, read_body, read_query
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.queries import JobOrderField as OrderField
from uno.jobs.system import JobSystem


def build_router(ctx: RouteContext) -> APIRouter:
    """The job routes; the two busiest first, since routing tries them in order."""
    router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=JobsRoute)
    read, write = ctx.require(SCOPE_READ), ctx.require(SCOPE_WRITE)
    system_dep = Depends(ctx.provider)

    async def list_jobs_lean(request: Request) -> Response | None:
        """``list_jobs`` for a query that fits; the dashboard and clients poll it."""
        query = read_query(request, JobListQuery, JobListQuery.repeated)
        if query is None:
            return None
        system = await ctx.admit(request, SCOPE_READ)
        jobs, total = await system.list_jobs(query.to_filter())
        return json_response(JobListDto.from_page(jobs, total, query.limit, query.offset))

    @router.get(
        "",
        name="list_jobs",
        response_model=JobListDto,
        dependencies=read,
        responses=ctx.responses(),
        summary="List Jobs",
    )
    @ctx.lean_handler(list_jobs_lean)
    async def list_jobs(
        queue_name: Annotated[str | None, Query(description="Filter by queue name")] = None,
        status: Annotated[
            list[StatusEnum] | None, Query(description="Filter by status (repeatable)")
        ] = None,
        priority: Annotated[
            PriorityEnum | None, Query(description="Filter by priority level")
        ] = None,
        tags: Annotated[list[str] | None, Query(description="Jobs having all these tags")] = None,
        worker_id: Annotated[str | None, Query(description="Filter by worker ID")] = None,
        task_name: Annotated[str | None, Query(description="Filter by task name")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Jobs to skip")] = 0,
        order_by: Annotated[OrderField, Query(description="Field to order by")] = "created_at",
        order_dir: Annotated[OrderDir, Query(description="Order direction")] = "desc",
        system: JobSystem = system_dep,
    ) -> JobListDto:
        """Jobs matching every given filter, one page at a time."""
        query = JobListQuery.model_construct(
            queue_name=queue_name,
            status=status,
            priority=priority,
            tags=tags,
            worker_id=worker_id,
            task_name=task_name,
            limit=limit,
            offset=offset,
            order_by=order_by,
            order_dir=order_dir,
        )
        jobs, total = await system.list_jobs(query.to_filter())
        return JobListDto.from_page(jobs, total, limit, offset)

    async def create_job_lean(request: Request) -> Response | None:
        """``create_job`` for a body that fits; the busiest route of the API."""
        body = await read_body(request, CreateJobDto)
        if body is None:
            return None
        system = await ctx.admit(request, SCOPE_WRITE)
        job = await system.enqueue(body.task_name, body.args, body.kwargs, **body.to_options())
        return json_response(JobViewDto.from_domain(job), 201)

    @router.post(
        "",
        name="create_job",
        status_code=201,
        response_model=JobViewDto,
        dependencies=write,
        responses=ctx.responses(400, 409),
        summary="Create Job",
    )
    @ctx.lean_handler(create_job_lean)
    async def create_job(body: CreateJobDto, system: JobSystem = system_dep) -> JobViewDto:
        """Enqueue a job; fields left out come from the task's definition."""
        job = await system.enqueue(body.task_name, body.args, body.kwargs, **body.to_options())
        return JobViewDto.from_domain(job)

    @router.get(
        "/stats",
        name="get_job_stats",
        response_model=JobStatsDto,
        dependencies=read,
        responses=ctx.responses(),
        summary="Get Job Statistics",
    )
    async def get_job_stats(system: JobSystem = system_dep) -> JobStatsDto:
        return JobStatsDto.from_domain(await system.stats())

    @router.get(
        "/{job_id}",
        name="get_job",
        response_model=JobDetailDto,
        dependencies=read,
        responses=ctx.responses(404),
        summary="Get Job",
    )
    async def get_job(job_id: str, system: JobSystem = system_dep) -> JobDetailDto:
        """The job, with its attempt history and progress (additions to the reference)."""
        return JobDetailDto.from_details(await job_control.job_details(system, job_id))

    @router.post(
        "/run-sync",
        name="run_job_sync",
        response_model=Any,
        dependencies=write,
        responses={
            200: {"description": "The task's return value, as it returned it"},
            **ctx.responses(400, 409, 500, 503, 504),
        },
        summary="Run Job Synchronously",
    )
    async def run_job_sync(
        request: Request, body: RunSyncJobDto, system: JobSystem = system_dep
    ) -> Any:
        """Enqueue a real job, wait for it and answer with its result.

        500 when the task raised; 504 (naming the job) when it did not finish
        within its timeout or ``max_run_sync_wait``, whichever is shorter; 409 at
        once, with nothing enqueued, when its queue is paused; 503 when the
        server stops meanwhile. The wait ends when the client disconnects; the
        job goes on either way.
        """
        client_gone = asyncio.ensure_future(_disconnected(request.receive))
        try:
            return await system.run(
                body.task_name, body.args, body.kwargs, abandon=client_gone, **body.to_options()
            )
        finally:
            client_gone.cancel()

    @router.post(
        "/{job_id}/cancel",
        name="cancel_job",
        response_model=JobViewDto,
        dependencies=write,
        responses=ctx.responses(404, 409),
        summary="Cancel Job",
    )
    async def cancel_job(
        job_id: str,
        body: Annotated[CancelJobDto | None, Body()] = None,
        system: JobSystem = system_dep,
    ) -> JobViewDto:
        """Cancel a job that has not ended; a running job's worker is told to stop it.
        409 once it has ended."""
        reason = body.reason if body else None
        return JobViewDto.from_domain(await system.cancel(job_id, reason))

    @router.post(
        "/{job_id}/retry",
        name="retry_job",
        response_model=JobViewDto,
        dependencies=write,
        responses=ctx.responses(404, 409),
        summary="Retry Job",
    )
    async def retry_job(job_id: str, system: JobSystem = system_dep) -> JobViewDto:
        """Send a failed, timed-out or cancelled job back to pending; 409 otherwise."""
        return JobViewDto.from_domain(await system.retry(job_id))

    return router


#: Pause between two reads of a request channel that does not block once the body is read.
_RECEIVE_PAUSE = 0.5


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone.

    The request body is read, so the ASGI channel's next message is
    ``http.disconnect``: servers block on it until the client goes or the response
    is complete. A wrapper that answers at once with more (empty) body is read
    again after a pause rather than in a busy loop.
    """
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        await asyncio.sleep(_RECEIVE_PAUSE)
