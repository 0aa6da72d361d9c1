"""The seed's "Server Integration" snippet, run as written, and configure_services."""

from __future__ import annotations

import ast
import runpy
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers_api import SEED_RUN_SYNC

from api.conftest import SECRET, claims, sign
from uno.dependencies import configure_services, get_job_system, reset_services
from uno.jobs import JobSystem, Settings

#: Verbatim from the Jobs API reference.
SEED_SNIPPET = textwrap.dedent(
    """
    from fastapi import FastAPI
    from uno.jobs import register_jobs_endpoints
    from uno.dependencies.service import configure_services

    app = FastAPI()

    # Configure dependencies
    configure_services()

    # Register jobs endpoints
    endpoints = register_jobs_endpoints(
        app_or_router=app,
        path_prefix="/api/v1",
        include_auth=True
    )

    # You can access the registered endpoints
    job_endpoints = endpoints["jobs"]
    schedule_endpoints = endpoints["schedules"]
    queue_endpoints = endpoints["queues"]
    task_endpoints = endpoints["tasks"]
    """
)


@pytest.fixture
def seed_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("UNO_JOBS_DATABASE_URL", f"sqlite:///{tmp_path}/jobs.db")
    monkeypatch.setenv("UNO_JOBS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNO_JOBS_JWT_SECRET", SECRET)
    reset_services()
    yield tmp_path
    reset_services()


def test_the_package_namespace_has_no_init() -> None:
    import uno

    assert getattr(uno, "__file__", None) is None
    src = Path(__file__).parents[2] / "src" / "uno"
    assert not (src / "__init__.py").exists()


async def test_the_seed_snippet_serves_requests(seed_env: Path) -> None:
    namespace = runpy.run_path(_write(seed_env), run_name="seed_app")
    app = namespace["app"]
    assert set(namespace["endpoints"]) == {"jobs", "schedules", "queues", "tasks"}
    headers = {"Authorization": f"Bearer {sign(claims())}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
    ) as client:
        # No lifespan ran: the store opens on the first request.
        tasks = await client.get("/api/v1/tasks")
        assert tasks.status_code == 200
        assert "process_data" in {t["name"] for t in tasks.json()["items"]}
        created = await client.post("/api/v1/jobs", json={"task_name": "add", "args": [1, 2]})
        assert created.status_code == 201
        assert (await client.get("/api/v1/jobs")).status_code == 200
        assert (await client.get("/api/v1/jobs")).json()["total"] == 1
        assert (await httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ).get("/api/v1/jobs")).status_code == 401  # fmt: skip
    await get_job_system().close()


async def test_the_seed_snippet_runs_an_embedded_worker_in_its_lifespan(seed_env: Path) -> None:
    app = runpy.run_path(_write(seed_env), run_name="seed_app")["app"]
    headers = {"Authorization": f"Bearer {sign(claims())}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
        ) as client,
    ):
        response = await client.post("/api/v1/jobs/run-sync", json=SEED_RUN_SYNC)
        assert response.status_code == 200
        assert response.json() == {"processed": 42}


def _write(folder: Path) -> str:
    path = folder / "seed_app.py"
    path.write_text(SEED_SNIPPET)
    return str(path)


def test_configure_services_builds_from_settings_and_app(tmp_path: Path) -> None:
    reset_services()
    try:
        settings = Settings(database_url=f"sqlite:///{tmp_path}/x.db", jwt_secret=SECRET)
        system = configure_services(settings=settings, app="uno.jobs.demo:registry")
        assert system.settings == settings
        assert "generate_report" in system.registry
        assert get_job_system() is system
        mine = JobSystem(settings=settings)
        assert configure_services(system=mine) is mine
        assert get_job_system() is mine
    finally:
        reset_services()


def test_configure_services_reads_the_app_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reset_services()
    monkeypatch.setenv("UNO_JOBS_APP", "uno.jobs.demo")
    monkeypatch.setenv("UNO_JOBS_EMBEDDED_WORKER", "false")
    try:
        from uno.dependencies.service import get_services

        system = configure_services()
        assert "process_data" in system.registry
        services = get_services()
        assert (services.embedded_worker, services.embedded_scheduler) == (False, True)
    finally:
        reset_services()


async def test_endpoints_on_a_router_with_a_given_system_and_extra_dependencies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException

    from api.conftest import make_system
    from uno.jobs import register_jobs_endpoints

    async def tenant(x_tenant: str | None = Header(None)) -> None:
        if x_tenant != "acme":
            raise HTTPException(400, detail="X-Tenant header required")

    reset_services()
    monkeypatch.setenv("UNO_JOBS_EMBEDDED_SCHEDULER", "0")
    system = make_system(tmp_path)
    router = APIRouter()
    routers = register_jobs_endpoints(
        router, "/jobs-api", dependencies=[Depends(tenant)], include_auth=False, system=system
    )
    assert set(routers) == {"jobs", "schedules", "queues", "tasks"}
    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        assert (await client.get("/jobs-api/tasks")).status_code == 400
        ok = await client.get("/jobs-api/tasks", headers={"X-Tenant": "acme"})
        assert ok.status_code == 200
        missing = await client.get("/jobs-api/jobs/nope", headers={"X-Tenant": "acme"})
        assert missing.json() == {"detail": "Job not found: nope"}
    await system.close()
    from uno.dependencies.service import _services

    assert _services.system is None


def test_the_library_never_imports_the_composition_root() -> None:
    """``uno.dependencies`` builds on ``uno.jobs``, never the other way round."""
    library = Path(__file__).parents[2] / "src" / "uno" / "jobs"
    imported: dict[str, set[str]] = {}
    for path in library.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.setdefault(node.module, set()).add(path.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    imported.setdefault(alias.name, set()).add(path.name)
    assert "uno.jobs.system" in imported  # the walk sees the library's imports
    assert {m: f for m, f in imported.items() if m.startswith("uno.dependencies")} == {}


def test_the_demo_module_builds_no_job_system() -> None:
    """Importing the demo reads no settings: whoever serves it builds the system."""
    from uno.jobs import demo
    from uno.jobs.loading import load_app
    from uno.jobs.tasks import TaskRegistry

    assert isinstance(demo.registry, TaskRegistry)
    assert not [v for v in vars(demo).values() if isinstance(v, JobSystem)]
    assert {"process_data", "generate_report", "check_status", "echo", "add", "sleep", "fail"} <= {
        task.name for task in demo.registry.all()
    }
    assert load_app("uno.jobs.demo").registry is demo.registry


def test_mounting_without_a_system_or_a_root_fails_at_once() -> None:
    from fastapi import FastAPI

    from uno.jobs import register_jobs_endpoints
    from uno.jobs.api import endpoints

    root = endpoints._default_services
    endpoints.serve_by_default(None)
    try:
        with pytest.raises(RuntimeError, match="configure_services"):
            register_jobs_endpoints(FastAPI(), "/api/v1")
    finally:
        endpoints.serve_by_default(root)
    assert root is not None  # importing uno.dependencies offered its system
