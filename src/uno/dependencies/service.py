"""The job system the Jobs API serves, for apps that mount it with one call.

The seed's server integration reads::

    configure_services()
    register_jobs_endpoints(app_or_router=app, path_prefix="/api/v1", include_auth=True)

``configure_services`` builds the job system from settings and the environment
and registers it here; ``register_jobs_endpoints`` (without ``system=``) serves
whatever is registered, configuring the default on first use.

This is the composition root of such apps: it imports the library and offers
the library its system (``uno.jobs.api.endpoints.serve_by_default``, done on
import); nothing in ``uno.jobs`` imports this module.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from uno.jobs.api.endpoints import DefaultServices, serve_by_default
from uno.jobs.loading import load_app
from uno.jobs.settings import ENV_PREFIX, Settings
from uno.jobs.system import JobSystem

_FALSE = {"0", "false", "no", "off"}


@dataclass(slots=True)
class Services:
    """What ``configure_services`` registered."""

    system: JobSystem | None = None
    embedded_worker: bool = True
    embedded_scheduler: bool = True


_services = Services()
_lock = threading.Lock()


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(ENV_PREFIX + name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in _FALSE


def build_system(settings: Settings | None = None, app: str | JobSystem | None = None) -> JobSystem:
    """The job system of ``app`` (``MOD[:ATTR]``, else ``UNO_JOBS_APP``, else the demo).

    ``settings`` default to the environment as it is now. When they differ from
    the loaded system's (an app module read its settings at import time), a new
    JobSystem is made over the app's task registry and the module is left alone.
    """
    loaded = app if isinstance(app, JobSystem) else load_app(app or os.environ.get("UNO_JOBS_APP"))
    wanted = settings if settings is not None else Settings.from_env()
    if loaded.settings == wanted:
        return loaded
    return JobSystem(settings=wanted, registry=loaded.registry, clock=loaded.clock)


def configure_services(
    settings: Settings | None = None,
    system: JobSystem | None = None,
    app: str | JobSystem | None = None,
    *,
    embedded_worker: bool | None = None,
    embedded_scheduler: bool | None = None,
) -> JobSystem:
    """Build (or take) the job system and register it for ``register_jobs_endpoints``.

    A FastAPI app mounting the endpoints runs an embedded worker and scheduler
    in its lifespan unless told otherwise here or by ``UNO_JOBS_EMBEDDED_WORKER=0``
    / ``UNO_JOBS_EMBEDDED_SCHEDULER=0`` (for deployments with separate workers).
    """
    chosen = system if system is not None else build_system(settings, app)
    with _lock:
        _services.system = chosen
        _services.embedded_worker = (
            embedded_worker if embedded_worker is not None else _env_flag("EMBEDDED_WORKER", True)
        )
        _services.embedded_scheduler = (
            embedded_scheduler
            if embedded_scheduler is not None
            else _env_flag("EMBEDDED_SCHEDULER", True)
        )
    return chosen


def get_job_system() -> JobSystem:
    """The registered job system, configuring the default one on first use."""
    if _services.system is None:
        configure_services()
    assert _services.system is not None
    return _services.system


def embedded_defaults() -> tuple[bool, bool]:
    """Whether mounted endpoints run an embedded (worker, scheduler) in the app's lifespan."""
    if _services.system is not None:
        return _services.embedded_worker, _services.embedded_scheduler
    return _env_flag("EMBEDDED_WORKER", True), _env_flag("EMBEDDED_SCHEDULER", True)


def get_services() -> Services:
    get_job_system()
    return _services


def reset_services() -> None:
    """Forget the registered job system (tests, or re-configuration)."""
    with _lock:
        _services.system = None
        _services.embedded_worker = True
        _services.embedded_scheduler = True


serve_by_default(DefaultServices(system=get_job_system, embedded_loops=embedded_defaults))
