"""Schedule endpoints: list, get, create, update, delete, pause, resume, and run
now (an addition)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from uno.jobs.api.auth import SCOPE_READ, SCOPE_WRITE
from uno.jobs.api.dtos import (
    MAX_PAGE_SIZE,
    CreateScheduleDto,
    ScheduleListDto,
    ScheduleStatusEnum,
    ScheduleViewDto,
    UpdateScheduleDto,
)
from uno.jobs.api.dtos.common import MAX_OFFSET
from uno.jobs.api.dtos.jobs import JobViewDto
from uno.jobs.api.errors import failing_to
from uno.jobs.api.route import JobsRoute
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.system import JobSystem


# long: route declarations; each handler is a few lines, the rest is their OpenAPI
# (status codes, summaries), which FastAPI reads from the decorators.
def build_router(ctx: RouteContext) -> APIRouter:
    router = APIRouter(prefix="/schedules", tags=["schedules"], route_class=JobsRoute)
    read, write = ctx.require(SCOPE_READ), ctx.require(SCOPE_WRITE)
    system_dep = Depends(ctx.provider)

    @router.get(
        "",
        name="list_schedules",
        response_model=ScheduleListDto,
        dependencies=read,
        responses=ctx.responses(),
        summary="List Schedules",
    )
    async def list_schedules(
        status: Annotated[ScheduleStatusEnum | None, Query(description="active or paused")] = None,
        tags: Annotated[
            list[str] | None, Query(description="Schedules having all these tags")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Schedules to skip")] = 0,
        system: JobSystem = system_dep,
    ) -> ScheduleListDto:
        items, total = await system.schedules.list(
            status=status.value if status else None,
            tags=tuple(tags or ()),
            limit=limit,
            offset=offset,
        )
        return ScheduleListDto.from_page(items, total, limit, offset, system.schedules.task_of)

    @router.get(
        "/{schedule_id}",
        name="get_schedule",
        response_model=ScheduleViewDto,
        dependencies=read,
        responses=ctx.responses(404),
        summary="Get Schedule",
    )
    async def get_schedule(schedule_id: str, system: JobSystem = system_dep) -> ScheduleViewDto:
        schedule = await system.schedules.get(schedule_id)
        return ScheduleViewDto.from_domain(schedule, system.schedules.task_of(schedule))

    @router.post(
        "",
        name="create_schedule",
        status_code=201,
        response_model=ScheduleViewDto,
        dependencies=write,
        responses=ctx.responses(400),
        summary="Create Schedule",
    )
    async def create_schedule(
        body: CreateScheduleDto, system: JobSystem = system_dep
    ) -> ScheduleViewDto:
        """A recurring job from a cron expression or an interval (exactly one)."""
        with failing_to("create schedule"):
            schedule = await system.schedules.create(body.name, body.task_name, **body.to_options())
        return ScheduleViewDto.from_domain(schedule, system.schedules.task_of(schedule))

    @router.put(
        "/{schedule_id}",
        name="update_schedule",
        response_model=ScheduleViewDto,
        dependencies=write,
        responses=ctx.responses(400, 404),
        summary="Update Schedule",
    )
    async def update_schedule(
        schedule_id: str, body: UpdateScheduleDto, system: JobSystem = system_dep
    ) -> ScheduleViewDto:
        """Change the fields given; the others keep their value."""
        with failing_to("update schedule"):
            schedule = await system.schedules.update(schedule_id, **body.to_changes())
        return ScheduleViewDto.from_domain(schedule, system.schedules.task_of(schedule))

    @router.delete(
        "/{schedule_id}",
        name="delete_schedule",
        status_code=204,
        response_class=Response,
        dependencies=write,
        responses=ctx.responses(404),
        summary="Delete Schedule",
    )
    async def delete_schedule(schedule_id: str, system: JobSystem = system_dep) -> Response:
        await system.schedules.delete(schedule_id)
        return Response(status_code=204)

    @router.post(
        "/{schedule_id}/pause",
        name="pause_schedule",
        response_model=ScheduleViewDto,
        dependencies=write,
        responses=ctx.responses(404),
        summary="Pause Schedule",
    )
    async def pause_schedule(schedule_id: str, system: JobSystem = system_dep) -> ScheduleViewDto:
        schedule = await system.schedules.pause(schedule_id)
        return ScheduleViewDto.from_domain(schedule, system.schedules.task_of(schedule))

    @router.post(
        "/{schedule_id}/resume",
        name="resume_schedule",
        response_model=ScheduleViewDto,
        dependencies=write,
        responses=ctx.responses(404),
        summary="Resume Schedule",
    )
    async def resume_schedule(schedule_id: str, system: JobSystem = system_dep) -> ScheduleViewDto:
        schedule = await system.schedules.resume(schedule_id)
        return ScheduleViewDto.from_domain(schedule, system.schedules.task_of(schedule))

    @router.post(
        "/{schedule_id}/run",
        name="run_schedule",
        status_code=201,
        response_model=JobViewDto,
        dependencies=write,
        responses=ctx.responses(400, 404),
        summary="Run Schedule Now",
    )
    async def run_schedule(schedule_id: str, system: JobSystem = system_dep) -> JobViewDto:
        """An addition to the reference: enqueue the schedule's job now, out of turn
        (due at once; its metadata names the schedule and has ``run_now``). Its next
        run stays as it is, and a paused schedule stays paused."""
        return JobViewDto.from_domain(await system.schedules.run_now(schedule_id))

    return router
