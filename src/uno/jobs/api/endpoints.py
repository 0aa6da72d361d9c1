"""``register_jobs_endpoints``: mount the Jobs API on a FastAPI app or router."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.params import Depends as DependsParam

from uno.jobs.api.admission import without_opening
from uno.jobs.api.auth import SystemProvider
from uno.jobs.api.routes import jobs, queues, schedules, tasks, workers
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.api.runtime import embedded_runtime
from uno.jobs.system import JobSystem


def system_provider(system: JobSystem | None = None) -> SystemProvider:
    """A dependency giving routes the job system, opened (lazily, once).

    Without ``system`` it is the one ``configure_services`` registered, so a
    FastAPI app without a lifespan still works: the store opens on first request.
    """

    def unopened() -> JobSystem:
        if system is not None:
            return system
        from uno.dependencies.service import get_job_system as registered

        return registered()

    async def get_job_system() -> JobSystem:
        return await unopened().open()

    return without_opening(get_job_system, unopened)


def register_jobs_endpoints(
    app_or_router: FastAPI | APIRouter,
    path_prefix: str = "/api/v1",
    dependencies: Sequence[DependsParam] | None = None,
    include_auth: bool = True,
    system: JobSystem | None = None,
    *,
    manage_lifespan: bool = True,
) -> dict[str, APIRouter]:
    """Add the jobs, schedules, queues and tasks routers under ``path_prefix``.

    Every route checks the token and the body size from the request's headers
    before its body is read (``uno.jobs.api.admission``), here as in ``create_app``.

    ``system`` defaults to the one ``configure_services`` registered. On a
    FastAPI app (and with ``manage_lifespan``) the app's lifespan also opens
    and closes the job system and runs the embedded worker and scheduler that
    ``configure_services`` asked for; the app's own lifespan runs inside it.
    Returns the routers by resource name.
    """
    ctx = RouteContext(
        provider=system_provider(system),
        include_auth=include_auth,
        lean=_may_serve_lean(app_or_router, dependencies),
    )
    routers = {
        "jobs": jobs.build_router(ctx),
        "schedules": schedules.build_router(ctx),
        "queues": queues.build_router(ctx),
        "tasks": tasks.build_router(ctx),
        "workers": workers.build_router(ctx),
    }
    for router in routers.values():
        app_or_router.include_router(
            router, prefix=path_prefix.rstrip("/"), dependencies=list(dependencies or ())
        )
    if isinstance(app_or_router, FastAPI) and manage_lifespan:
        _wrap_lifespan(app_or_router, system)
    return routers


def _may_serve_lean(
    app_or_router: FastAPI | APIRouter, dependencies: Sequence[DependsParam] | None
) -> bool:
    """Lean handlers skip FastAPI's dependencies, so only where there are none of the
    app's own: a FastAPI app (a router may be included under dependencies later)
    with no app-wide dependencies and none given here."""
    return (
        isinstance(app_or_router, FastAPI)
        and not dependencies
        and not app_or_router.router.dependencies
    )


def _wrap_lifespan(app: FastAPI, system: JobSystem | None) -> None:
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(target_app: Any) -> AsyncIterator[Any]:
        from uno.dependencies.service import embedded_defaults, get_job_system

        target = system if system is not None else get_job_system()
        worker, scheduler = embedded_defaults()
        async with (
            embedded_runtime(target, worker=worker, scheduler=scheduler),
            inner(target_app) as state,
        ):
            yield state

    app.router.lifespan_context = lifespan
