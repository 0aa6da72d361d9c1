"""Task endpoints: the registered tasks, and one task by name and version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from uno.jobs.api.auth import SCOPE_READ
from uno.jobs.api.dtos import TaskInfoDto, TaskListDto
from uno.jobs.api.route import JobsRoute
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.errors import TaskNotFound
from uno.jobs.system import JobSystem


def build_router(ctx: RouteContext) -> APIRouter:
    router = APIRouter(prefix="/tasks", tags=["tasks"], route_class=JobsRoute)
    read = ctx.require(SCOPE_READ)
    system_dep = Depends(ctx.provider)

    @router.get(
        "",
        name="list_tasks",
        response_model=TaskListDto,
        dependencies=read,
        responses=ctx.responses(),
        summary="List Tasks",
    )
    async def list_tasks(system: JobSystem = system_dep) -> TaskListDto:
        """The highest version of every registered task."""
        return TaskListDto.from_domain(system.registry.all())

    @router.get(
        "/{task_name}",
        name="get_task",
        response_model=TaskInfoDto,
        dependencies=read,
        responses=ctx.responses(404),
        summary="Get Task",
    )
    async def get_task(
        task_name: str,
        version: Annotated[
            str | None, Query(description="Version (the highest by default)")
        ] = None,
        system: JobSystem = system_dep,
    ) -> TaskInfoDto:
        """A task by name; 404 for a name or version the registry does not hold."""
        try:
            task = system.registry.get(task_name, version)
        except TaskNotFound as exc:
            raise HTTPException(404, detail=str(exc)) from None  # a lookup, not an enqueue
        return TaskInfoDto.from_domain(task)

    return router
