"""The server around the API: OpenAPI, probes, dashboard, CORS, error bodies."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.conftest import make_system
from uno.jobs import JobSystem, Settings
from uno.jobs.api import create_app


async def test_openapi_describes_every_endpoint_schema_auth_and_errors(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    schemas = doc["components"]["schemas"]
    for name in (
        "JobViewDto", "CreateJobDto", "JobListDto", "RunSyncJobDto", "CancelJobDto",
        "JobStatsDto", "JobErrorDto", "ScheduleViewDto", "ScheduleIntervalDto",
        "CreateScheduleDto", "UpdateScheduleDto", "ScheduleListDto", "QueueDto",
        "QueueListDto", "TaskInfoDto", "TaskListDto", "ErrorDto", "PriorityEnum", "StatusEnum",
    ):  # fmt: skip
        assert name in schemas, name
    assert doc["components"]["securitySchemes"]["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT whose `scope` claim holds jobs:read, jobs:write or jobs:admin.",
    }
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, operation in operations.items():
            assert operation["security"] == [{"BearerAuth": []}], (method, path)
            for code in ("401", "403"):
                ref = operation["responses"][code]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/ErrorDto"}
    create = doc["paths"]["/api/v1/jobs"]["post"]
    assert "201" in create["responses"] and "409" in create["responses"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateJobDto"
    }
    run_sync = doc["paths"]["/api/v1/jobs/run-sync"]["post"]["responses"]
    assert {"200", "500", "504"} <= set(run_sync)
    order_by = next(
        p for p in doc["paths"]["/api/v1/jobs"]["get"]["parameters"] if p["name"] == "order_by"
    )
    assert "priority" in order_by["schema"]["enum"]
    assert (await client.get("/docs")).status_code == 200


async def test_unknown_path_and_method_errors_carry_detail(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong_method = await client.patch("/api/v1/jobs")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["detail"]


async def test_probes_and_dashboard_need_no_token(clients: object, app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        ready = await anonymous.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        page = await anonymous.get("/dashboard")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "dashboard/static/console.js" in page.text
        script = await anonymous.get("/dashboard/static/console.js")
        assert script.status_code == 200
        assert "/api/v1" in script.text and "Authorization" in script.text


async def test_readyz_is_503_when_the_store_is_unreachable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    system = JobSystem(
        f"sqlite:///{tmp_path}/file/jobs.db",
        settings=Settings(data_dir=tmp_path, jwt_secret="x" * 32),
    )
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as anonymous:
        response = await anonymous.get("/readyz")
        assert response.status_code == 503
        assert response.json()["detail"].startswith("Store unreachable")
        assert (await anonymous.get("/healthz")).status_code == 200


@pytest.mark.parametrize("origin", ["https://app.example", "https://evil.example"])
async def test_cors_origins_are_configurable(tmp_path: Path, origin: str) -> None:
    system = make_system(tmp_path, cors_origins=("https://app.example",))
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as anonymous:
        response = await anonymous.options(
            "/api/v1/jobs",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )
    allowed = response.headers.get("access-control-allow-origin")
    assert allowed == (origin if origin == "https://app.example" else None)


def test_cors_origins_come_from_the_environment() -> None:
    settings = Settings.from_env({"UNO_JOBS_CORS_ORIGINS": "https://a.example, https://b.example"})
    assert settings.cors_origins == ("https://a.example", "https://b.example")


async def test_the_app_works_without_its_lifespan(tmp_path: Path) -> None:
    """Mounted in someone else's server, the store opens on the first request."""
    from api.conftest import claims, sign

    app = create_app(make_system(tmp_path), embedded_worker=False, embedded_scheduler=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {sign(claims())}"},
    ) as client:
        created = await client.post("/api/v1/jobs", json={"task_name": "echo"})
        assert created.status_code == 201
        assert (await client.get("/api/v1/jobs")).json()["total"] == 1
    await app.state.jobs_system.close()


async def test_metrics_count_jobs_without_a_token(client: httpx.AsyncClient, app: FastAPI) -> None:
    created = await client.post("/api/v1/jobs", json={"task_name": "add", "args": [1, 2]})
    assert created.status_code == 201
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'uno_jobs_enqueued_total{queue="default",task="add"} 1.0' in response.text
