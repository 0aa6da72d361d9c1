"""``register_jobs_endpoints``: mount the Jobs API on a FastAPI app or router.

The library builds no job system of its own here: routers serve the system they
are given, or else the one the application's composition root offers through
``serve_by_default`` (``uno.dependencies.service.configure_services`` does, for
the seed's one-call integration). Nothing here imports that root.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.params import Depends as DependsParam

from uno.jobs.api.admission import without_opening
from uno.jobs.api.auth import SystemProvider
from uno.jobs.api.routes import bulk, console, jobs, queues, schedules, tasks
from uno.jobs.api.routes.guards import RouteContext
from uno.jobs.api.runtime import embedded_runtime
from uno.jobs.system import JobSystem


@dataclass(frozen=True, slots=True)
class DefaultServices:
    """What the composition root offers routers mounted without ``system=``.

    Both are asked at first use, so the root may be configured after mounting.
    """

    #: The job system to serve (built on first use if the root builds one).
    system: Callable[[], JobSystem]
    #: Whether the app's lifespan runs an embedded (worker, scheduler).
    embedded_loops: Callable[[], tuple[bool, bool]]


_default_services: DefaultServices | None = None


def serve_by_default(services: DefaultServices | None) -> None:
    """Let routers mounted without ``system=`` serve what ``services`` offers."""
    global _default_services
    _default_services = services


def default_services() -> DefaultServices:
    """What the composition root offers; an error naming the two ways to give one."""
    if _default_services is None:
        raise RuntimeError(
            "No job system to serve: pass system= to register_jobs_endpoints, "
            "or call uno.dependencies.service.configure_services() first"
        )
    return _default_services


def system_provider(system: JobSystem | None = None) -> SystemProvider:
    """A dependency giving routes the job system, opened (lazily, once).

    Without ``system`` it is the composition root's, so a FastAPI app without a
    lifespan still works: the store opens on first request.
    """

    def unopened() -> JobSystem:
        return system if system is not None else default_services().system()

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
    """Add the jobs, schedules, queues and tasks routers (and the bulk and console
    routes) under ``path_prefix``.

    Every route checks the token and the body size from the request's headers
    before its body is read (``uno.jobs.api.admission``), here as in ``create_app``.

    ``system`` defaults to the one ``configure_services`` registered. On a
    FastAPI app (and with ``manage_lifespan``) the app's lifespan also opens
    and closes the job system and runs the embedded worker and scheduler that
    ``configure_services`` asked for; the app's own lifespan runs inside it.
    Returns the routers by resource name.
    """
    if system is None and _default_services is None:
        default_services()  # fail now, not at the first request
    ctx = RouteContext(
        provider=system_provider(system),
        include_auth=include_auth,
        fast=_only_admission(app_or_router, dependencies),
    )
    routers = {
        "jobs": jobs.build_router(ctx),
        "schedules": schedules.build_router(ctx),
        "queues": queues.build_router(ctx),
        "tasks": tasks.build_router(ctx),
    }
    # Additions beyond the reference (bulk actions, the console's reads): mounted,
    # but not among the returned routers, which are the reference's four.
    additions = [bulk.build_router(ctx), console.build_router(ctx)]
    for router in [*routers.values(), *additions]:
        app_or_router.include_router(
            router, prefix=path_prefix.rstrip("/"), dependencies=list(dependencies or ())
        )
    if isinstance(app_or_router, FastAPI) and manage_lifespan:
        _wrap_lifespan(app_or_router, system)
    return routers


def _only_admission(
    app_or_router: FastAPI | APIRouter, dependencies: Sequence[DependsParam] | None
) -> bool:
    """Whether the routes' admission will be their only dependency: on a FastAPI app
    (a router may be included under dependencies later) with none of its own and
    none given here. The fast path skips dependencies, so it is taken only then."""
    return (
        isinstance(app_or_router, FastAPI)
        and not dependencies
        and not app_or_router.router.dependencies
    )


def _wrap_lifespan(app: FastAPI, system: JobSystem | None) -> None:
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(target_app: Any) -> AsyncIterator[Any]:
        root = _default_services if system is not None else default_services()
        worker, scheduler = root.embedded_loops() if root is not None else (True, True)
        target = system if system is not None else default_services().system()
        async with (
            embedded_runtime(target, worker=worker, scheduler=scheduler),
            inner(target_app) as state,
        ):
            yield state

    app.router.lifespan_context = lifespan
