"""The REST side of job control: the job view's attempts and progress, cancel of a
running job, the workers endpoints and the work waiting for a worker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from helpers import EPOCH, make_job
from uno.jobs import JobSystem, Settings
from uno.jobs.api import create_app
from uno.jobs.clock import ManualClock
from uno.jobs.demo import registry as demo_registry
from uno.jobs.jobs import JobError
from uno.jobs.store.base import Completion, Failure
from uno.jobs.workers import TaskRef, WorkerCounts

SECRET = "test-secret-of-at-least-thirty-two-bytes!"
W = "worker-1"

#: The fields of the reference's job view: all kept, in addition to ours.
REFERENCE_FIELDS = {
    "id", "task_name", "args", "kwargs", "queue_name", "priority", "status", "scheduled_at",
    "created_at", "started_at", "completed_at", "result", "error", "retry_count",
    "max_retries", "retry_delay", "tags", "metadata", "worker_id", "timeout", "version",
    "duration",
}  # fmt: skip


def _token(scope: str) -> str:
    now = int(time.time())
    claims = {"sub": "tester", "scope": scope, "iat": now, "exp": now + 600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(EPOCH)


@pytest.fixture
async def system(tmp_path: Path, clock: ManualClock) -> AsyncIterator[JobSystem]:
    settings = Settings(
        data_dir=tmp_path / "data",
        jwt_secret=SECRET,
        heartbeat_interval=5.0,
        rescue_after=30.0,
    )
    jobs = JobSystem(
        f"sqlite:///{tmp_path}/jobs.db", settings=settings, clock=clock, registry=demo_registry
    )
    yield jobs


@pytest.fixture
async def client(system: JobSystem) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {_token('jobs:read jobs:write')}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as c:
            yield c


async def _running_job(system: JobSystem, clock: ManualClock, **fields: Any) -> str:
    job = await system.enqueue("add", [1, 2], **fields)
    (got,) = await system.store.fetch_jobs(W, None, 1, clock.now(), running=1)
    assert got.id == job.id
    return job.id


async def test_the_job_view_adds_attempts_and_progress(
    client: httpx.AsyncClient, system: JobSystem, clock: ManualClock
) -> None:
    await system.store.register_worker(W, "host", 7, None, clock.now())
    job_id = await _running_job(system, clock, max_retries=3)
    for number in (1, 2):
        at = clock.advance(1)
        error = JobError("ValueError", f"bad {number}", "Traceback ...")
        await system.store.fail_jobs(W, [Failure(job_id, error, at, retry_at=at)])
        await system.store.fetch_jobs(W, None, 1, at, running=1)
    await system.store.report_progress(job_id, W, 0.5, "halfway", clock.advance(1))

    running = (await client.get(f"/api/v1/jobs/{job_id}")).json()
    assert set(running) >= REFERENCE_FIELDS
    assert running["progress"]["fraction"] == 0.5
    assert running["progress"]["message"] == "halfway"
    assert running["error"]["message"] == "bad 2"  # the last failed attempt's

    await system.store.complete_jobs(W, [Completion(job_id, 3, clock.advance(1))])
    done = (await client.get(f"/api/v1/jobs/{job_id}")).json()
    assert done["status"] == "completed"
    assert [a["outcome"] for a in done["attempts"]] == ["failed", "failed", "completed"]
    assert [a["number"] for a in done["attempts"]] == [1, 2, 3]
    assert [a["error"] and a["error"]["message"] for a in done["attempts"]] == [
        "bad 1",
        "bad 2",
        None,
    ]
    assert done["attempts"][0]["worker_id"] == W
    # Lists keep the reference's shape.
    listed = (await client.get("/api/v1/jobs")).json()["items"][0]
    assert "attempts" not in listed


async def test_cancel_of_a_running_job_answers_200(
    client: httpx.AsyncClient, system: JobSystem, clock: ManualClock
) -> None:
    job_id = await _running_job(system, clock)
    response = await client.post(f"/api/v1/jobs/{job_id}/cancel", json={"reason": "enough"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["metadata"]["cancel_reason"] == "enough"
    assert body["worker_id"] is None
    view = (await client.get(f"/api/v1/jobs/{job_id}")).json()
    assert [a["outcome"] for a in view["attempts"]] == ["cancelled"]
    again = await client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "detail" in again.json()


async def test_workers_are_listed_with_their_state(
    client: httpx.AsyncClient, system: JobSystem, clock: ManualClock
) -> None:
    tasks = [TaskRef("add", "1.0")]
    await system.store.register_worker(W, "host-a", 7, ["default"], clock.now(), tasks=tasks)
    job_id = await _running_job(system, clock)
    done_id = await _running_job(system, clock)
    await system.store.complete_jobs(W, [Completion(done_id, 3, clock.now())])
    # The worker's heartbeat writes its counts (the outcome statements do not).
    await system.store.heartbeat(W, clock.now(), counts=WorkerCounts(1))

    listed = (await client.get("/api/v1/workers")).json()
    assert listed["total"] == 1
    (worker,) = listed["items"]
    assert worker["id"] == W and worker["hostname"] == "host-a" and worker["pid"] == 7
    assert worker["queues"] == ["default"]
    assert worker["tasks"] == [{"name": "add", "version": "1.0"}]
    assert worker["state"] == "alive"
    assert worker["running_jobs"] == [job_id]
    assert (worker["processed"], worker["failed"]) == (1, 0)

    clock.advance(11)  # more than two heartbeat intervals
    one = (await client.get(f"/api/v1/workers/{W}")).json()
    assert one["state"] == "silent"
    clock.advance(30)  # past rescue_after
    assert (await client.get(f"/api/v1/workers/{W}")).json()["state"] == "gone"

    missing = await client.get("/api/v1/workers/nobody")
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]


async def test_workers_need_the_read_scope(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/api/v1/workers", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    other = await client.get(
        "/api/v1/workers", headers={"Authorization": f"Bearer {_token('jobs:write')}"}
    )
    assert other.status_code == 403


async def test_jobs_no_live_worker_can_run_are_shown_waiting(
    client: httpx.AsyncClient, system: JobSystem, clock: ManualClock
) -> None:
    served = [TaskRef("add", "1.0")]
    await system.store.register_worker(W, "h", 1, None, clock.now(), tasks=served)
    # A job of version 2, enqueued by a process that knows it (this one does not).
    await system.store.insert_jobs([make_job(task_name="add", version="2")])
    await system.enqueue("add", [1, 2])
    tasks = (await client.get("/api/v1/tasks")).json()
    assert tasks["waiting_for_workers"] == [
        {"task_name": "add", "version": "2", "waiting": 1, "runnable": False}
    ]
    workers = (await client.get("/api/v1/workers")).json()
    assert workers["waiting_for_workers"] == tasks["waiting_for_workers"]


async def test_the_openapi_document_describes_the_additions(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/workers" in spec["paths"]
    assert "/api/v1/workers/{worker_id}" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert {"attempts", "progress"} <= set(schemas["JobDetailDto"]["properties"])
    waiting = schemas["TaskListDto"]["properties"]["waiting_for_workers"]
    assert waiting["items"] == {"$ref": "#/components/schemas/TaskBacklogDto"}
    assert {"task_name", "version", "waiting", "runnable"} <= set(
        schemas["TaskBacklogDto"]["properties"]
    )
