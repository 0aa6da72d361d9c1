"""Job endpoints: list, get, create, cancel, retry, run-sync, stats."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from starlette.types import Receive

from uno.jobs.api.auth import SCOPE_READ, SCOPE_WRITE
from uno.jobs.api.dtos import (
    CancelJobDto,
    CreateJobDto,
    JobListDto,
    JobListQuery,
    JobStatsDto,
    JobViewDto,
    RunSyncJobDto,
)
from uno.jobs.api.errors import failing_to
from uno.jobs.api.fast_path import fast_route
from uno.jobs.api.payloads import json_response
from uno.jobs.api.route import JobsRoute
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.system import JobSystem


def build_router(ctx: RouteContext) -> APIRouter:
    """The job routes; the two busiest first, since routing tries them in order."""
    router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=JobsRoute)
    _add_busy_routes(router, ctx)
    _add_reads(router, ctx)
    _add_actions(router, ctx)
    return router


async def list_page(system: JobSystem, query: JobListQuery) -> Response:
    """List Jobs: one page of the jobs matching every given filter."""
    jobs, total = await system.list_jobs(query.to_filter())
    return json_response(JobListDto.from_page(jobs, total, query.limit, query.offset))


async def create(system: JobSystem, body: CreateJobDto) -> Response:
    """Create Job: enqueue a job; fields left out come from the task's definition."""
    with failing_to("create job"):
        job = await system.enqueue(body.task_name, body.args, body.kwargs, **body.to_options())
    return json_response(JobViewDto.from_domain(job), 201)


def _add_busy_routes(router: APIRouter, ctx: RouteContext) -> None:
    """List and create: clients and the dashboard call them most, so both read their
    input on the fast path when they can (``uno.jobs.api.fast_path``) and answer
    with their view encoded once (``uno.jobs.api.payloads``)."""
    system_dep = Depends(ctx.provider)

    async def list_jobs(
        query: Annotated[JobListQuery, Query()], system: JobSystem = system_dep
    ) -> Response:
        """Jobs matching every given filter, one page at a time."""
        return await list_page(system, query)

    async def create_job(body: CreateJobDto, system: JobSystem = system_dep) -> Response:
        """Enqueue a job; fields left out come from the task's definition."""
        return await create(system, body)

    router.add_api_route(
        "",
        list_jobs,
        methods=["GET"],
        name="list_jobs",
        response_model=JobListDto,
        dependencies=ctx.require(SCOPE_READ),
        responses=ctx.responses(),
        summary="List Jobs",
        route_class_override=fast_route(JobListQuery, list_page, body=False) if ctx.fast else None,
    )
    router.add_api_route(
        "",
        create_job,
        methods=["POST"],
        name="create_job",
        status_code=201,
        response_model=JobViewDto,
        dependencies=ctx.require(SCOPE_WRITE),
        responses=ctx.responses(400, 409),
        summary="Create Job",
        route_class_override=fast_route(CreateJobDto, create, body=True) if ctx.fast else None,
    )


def _add_reads(router: APIRouter, ctx: RouteContext) -> None:
    read = ctx.require(SCOPE_READ)
    system_dep = Depends(ctx.provider)

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
        response_model=JobViewDto,
        dependencies=read,
        responses=ctx.responses(404),
        summary="Get Job",
    )
    async def get_job(job_id: str, system: JobSystem = system_dep) -> JobViewDto:
        return JobViewDto.from_domain(await system.get(job_id))


# long: route declarations; each handler is a few lines, the rest is their OpenAPI
# (status codes, summaries), which FastAPI reads from the decorators.
def _add_actions(router: APIRouter, ctx: RouteContext) -> None:
    write = ctx.require(SCOPE_WRITE)
    system_dep = Depends(ctx.provider)

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
            with failing_to("run job"):
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
        """Cancel a job that has not started; 409 once it has."""
        reason = body.reason if body else None
        with failing_to("cancel job"):
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
        with failing_to("retry job"):
            return JobViewDto.from_domain(await system.retry(job_id))


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
