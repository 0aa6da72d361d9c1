"""``create_app``: the uno-jobs server: API, health probes, dashboard, embedded runtime."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from uno.jobs.api.dtos import ErrorDto
from uno.jobs.api.endpoints import register_jobs_endpoints
from uno.jobs.api.errors import unhandled_error
from uno.jobs.api.runtime import embedded_runtime
from uno.jobs.dashboard.pages import add_console
from uno.jobs.loading import load_app
from uno.jobs.metrics import observe
from uno.jobs.settings import Settings, masked_url
from uno.jobs.system import JobSystem

DESCRIPTION = """Background jobs over HTTP: enqueue jobs, follow them, schedule
recurring ones and manage queues.

Every endpoint under the prefix needs `Authorization: Bearer <JWT>` whose `scope`
claim holds `jobs:read` (every GET), `jobs:write` (job and schedule changes) or
`jobs:admin` (queue pause, resume, clear; implies the other two). Every error
body has a `detail`."""


def _version() -> str:
    try:
        return version("uno-jobs")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def create_app(
    system: JobSystem | None = None,
    settings: Settings | None = None,
    *,
    embedded_worker: bool = True,
    embedded_scheduler: bool = True,
    include_auth: bool = True,
    path_prefix: str = "/api/v1",
    concurrency: int | None = None,
) -> FastAPI:
    """The uno-jobs server for ``system``.

    Without one, the app of ``UNO_JOBS_APP`` (else the demo tasks) is served over
    ``settings`` (else the environment).

    Its lifespan opens the store and runs the embedded worker and scheduler;
    ``/healthz``, ``/readyz`` and ``/dashboard`` need no token.
    """
    if system is None:
        tasks = load_app(os.environ.get("UNO_JOBS_APP")).registry
        system = JobSystem(settings=settings, registry=tasks)
    the_system = system
    settings = system.settings

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with embedded_runtime(
            the_system,
            worker=embedded_worker,
            scheduler=embedded_scheduler,
            concurrency=concurrency,
        ):
            yield

    app = FastAPI(
        title="uno-jobs",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs is served from the package by add_console (no CDN); ReDoc has no offline copy.
        docs_url=None,
        redoc_url=None,
    )
    app.state.jobs_system = system
    app.add_exception_handler(Exception, unhandled_error)
    _add_cors(app, settings)
    # The API first: routing tries routes in order, and its routes are the busy ones.
    register_jobs_endpoints(
        app, path_prefix, include_auth=include_auth, system=system, manage_lifespan=False
    )
    _add_probes(app, system)
    _add_metrics(app, system)
    add_console(app)
    _add_home(app)
    return app


def _add_cors(app: FastAPI, settings: Settings) -> None:
    """Let the configured origins (none by default) call the API from a browser."""
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )


def _add_home(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        """A browser pointed at the server lands on the dashboard, not on a 404."""
        return RedirectResponse("/dashboard", status_code=307)


#: Longest ``/readyz`` waits for the store before answering 503: an orchestrator's
#: probe must get an answer in time whatever the database does.
READY_TIMEOUT = 1.5


def _add_probes(app: FastAPI, system: JobSystem) -> None:
    #: The store check in flight, shared by the probes that arrive while it runs,
    #: so a database that hangs gets one check at a time, not one per probe.
    checks: list[asyncio.Task[bool]] = []

    async def store_ready() -> bool:
        await system.open()
        return await system.store.ping()

    def current_check() -> asyncio.Task[bool]:
        if not checks or checks[0].done():
            task = asyncio.create_task(store_ready(), name="uno-jobs readiness check")
            # A check that outlives its probe is still awaited: its error is read here.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            checks[:] = [task]
        return checks[0]

    @app.get("/healthz", tags=["health"], summary="Alive")
    async def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Ready",
        responses={503: {"model": ErrorDto, "description": "Store unreachable"}},
    )
    async def readyz() -> Any:
        """The store answers within ``READY_TIMEOUT``; 503 with the reason otherwise.

        A check still running at the deadline is left to finish on its own
        timeouts, not cancelled: cancelling a query on a silent server can itself
        wait for that server.
        """
        check = current_check()
        done, _ = await asyncio.wait({check}, timeout=READY_TIMEOUT)
        if not done:
            detail = f"Store unreachable: no answer within {READY_TIMEOUT:g}s"
            return JSONResponse({"detail": detail}, status_code=503)
        error = check.exception()
        if error is not None:
            detail = masked_url(" ".join(f"Store unreachable: {error}".split()))
            return JSONResponse({"detail": detail}, status_code=503)
        if not check.result():
            return JSONResponse({"detail": "Store unreachable"}, status_code=503)
        return {"status": "ready"}


def _add_metrics(app: FastAPI, system: JobSystem) -> None:
    metrics = observe(system)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Job counts and durations of this process, for Prometheus to scrape."""
        return Response(await metrics.render(), media_type=CONTENT_TYPE_LATEST)
