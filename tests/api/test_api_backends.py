"""The API over each storage backend (the shared ``store`` fixture: SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx
from helpers_api import SEED_CREATE_JOB, SEED_CRON_SCHEDULE, SEED_UPDATE_SCHEDULE

from api.conftest import SECRET, claims, sign
from uno.jobs import JobSystem, Settings
from uno.jobs.api import create_app
from uno.jobs.demo import registry as demo_registry
from uno.jobs.store import Store


async def test_jobs_schedules_and_queues_over_each_backend(store: Store, tmp_path: object) -> None:
    system = JobSystem(store=store, settings=Settings(jwt_secret=SECRET), registry=demo_registry)
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {sign(claims())}"},
    ) as client:
        created = await client.post("/api/v1/jobs", json=SEED_CREATE_JOB)
        assert created.status_code == 201, created.text
        assert (await client.post("/api/v1/jobs", json=SEED_CREATE_JOB)).status_code == 409
        listed = await client.get(
            "/api/v1/jobs", params={"tags": ["data", "processing"], "status": "pending"}
        )
        assert listed.json()["total"] == 1
        cancelled = await client.post("/api/v1/jobs/custom-job-id/cancel", json={"reason": "r"})
        assert cancelled.json()["metadata"]["cancel_reason"] == "r"
        assert (await client.post("/api/v1/jobs/custom-job-id/retry")).status_code == 200
        assert (await client.post("/api/v1/queues/default/pause")).status_code == 204
        queues = {q["name"]: q for q in (await client.get("/api/v1/queues")).json()["items"]}
        assert queues["default"] == {"name": "default", "size": 1, "is_paused": True}
        assert (await client.post("/api/v1/queues/default/clear")).status_code == 204
        schedule = (await client.post("/api/v1/schedules", json=SEED_CRON_SCHEDULE)).json()
        updated = await client.put(f"/api/v1/schedules/{schedule['id']}", json=SEED_UPDATE_SCHEDULE)
        assert updated.json()["priority"] == "high"
        assert (await client.get("/api/v1/jobs/stats")).json()["total_jobs"] == 0
        assert (await client.delete(f"/api/v1/schedules/{schedule['id']}")).status_code == 204
