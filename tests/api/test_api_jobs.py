"""Job endpoints through the ASGI app: create, get, list, cancel, retry, run-sync, stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers_api import SEED_CANCEL, SEED_CREATE_JOB, SEED_RUN_SYNC, wait_for_job

from api.conftest import TokenMaker, make_system
from helpers import eventually
from uno.jobs import JobSystem
from uno.jobs.api import create_app
from uno.jobs.limits import Limits

JOBS = "/api/v1/jobs"
#: Far enough ahead never to come due during a test, within the scheduling limit.
LATER = (datetime.now(UTC) + timedelta(days=365)).isoformat()
VIEW_FIELDS = {
    "id", "task_name", "args", "kwargs", "queue_name", "priority", "status", "scheduled_at",
    "created_at", "started_at", "completed_at", "result", "error", "retry_count",
    "max_retries", "retry_delay", "tags", "metadata", "worker_id", "timeout", "version",
    "duration",
}  # fmt: skip


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("task_name", "echo")
    response = await client.post(JOBS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


# -- create -------------------------------------------------------------------
async def test_create_the_seed_job_answers_201_with_every_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(JOBS, json=SEED_CREATE_JOB)
    assert response.status_code == 201, response.text
    job = response.json()
    assert set(job) == VIEW_FIELDS
    assert job["id"] == "custom-job-id"
    assert job["status"] == "pending"
    assert job["scheduled_at"] == "2023-06-15T10:00:00Z"
    assert job["created_at"].endswith("Z")
    for field in ("args", "kwargs", "queue_name", "priority", "max_retries", "retry_delay"):
        assert job[field] == SEED_CREATE_JOB[field]
    assert (job["timeout"], job["tags"], job["metadata"], job["version"]) == (
        300,
        ["data", "processing"],
        {"source": "api"},
        "1.0",
    )
    assert job["error"] is None and job["duration"] is None and job["result"] is None


async def test_create_fills_unset_fields_from_the_task(client: httpx.AsyncClient) -> None:
    job = await create(client, task_name="generate_report")
    assert job["queue_name"] == "reports"
    assert (job["timeout"], job["max_retries"], job["retry_delay"]) == (600, 2, 120)
    assert job["priority"] == "normal"
    assert job["version"] == "1.0"
    assert len(job["id"]) == 32


async def test_create_reads_naive_datetimes_as_utc(client: httpx.AsyncClient) -> None:
    naive = await create(client, scheduled_at="2030-01-02T03:04:05")
    offset = await create(client, scheduled_at="2030-01-02T05:04:05+02:00")
    assert naive["scheduled_at"] == offset["scheduled_at"] == "2030-01-02T03:04:05Z"


async def test_duplicate_job_id_is_409(client: httpx.AsyncClient) -> None:
    await create(client, job_id="twice")
    response = await client.post(JOBS, json={"task_name": "echo", "job_id": "twice"})
    assert response.status_code == 409
    assert "twice" in response.json()["detail"]


async def test_unknown_task_is_400_with_the_seeds_detail(client: httpx.AsyncClient) -> None:
    response = await client.post(JOBS, json={"task_name": "process_dat"})
    assert response.status_code == 400
    assert response.json() == {"detail": "Failed to create job: Task not found: process_dat"}


async def test_unknown_version_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(JOBS, json={"task_name": "process_data", "version": "9.9"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Failed to create job: Task not found")
    assert "9.9" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "task_name"),
        ({"task_name": "echo", "priority": "urgent"}, "priority"),
        ({"task_name": "echo", "scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"task_name": "echo", "args": {"a": 1}}, "args"),
        ({"task_name": "echo", "kwargs": [1]}, "kwargs"),
        ({"task_name": "echo", "tags": [1]}, "tags"),
        ({"task_name": "echo", "timeout": "soon"}, "timeout"),
    ],
)
async def test_ill_typed_create_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], where: str
) -> None:
    response = await client.post(JOBS, json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(where in map(str, error["loc"]) for error in detail), detail


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"task_name": ""}, "task_name"),
        ({"task_name": "echo", "timeout": -1}, "timeout"),
        ({"task_name": "echo", "timeout": 0}, "timeout"),
        ({"task_name": "echo", "max_retries": -1}, "max_retries"),
        ({"task_name": "echo", "retry_delay": -5}, "retry_delay"),
        ({"task_name": "echo", "queue_name": ""}, "queue_name"),
        ({"task_name": "echo", "tags": [""]}, "tag"),
        ({"task_name": "echo", "version": ""}, "version"),
        ({"task_name": "echo", "job_id": ""}, "job_id"),
        ({"task_name": "echo", "job_id": "x" * 256}, "job_id"),
    ],
)
async def test_create_bodies_out_of_bounds_are_400_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], where: str
) -> None:
    """Bounds are the domain's (``uno.jobs.enqueue``), checked once for every caller."""
    response = await client.post(JOBS, json=body)
    assert response.status_code == 400, response.text
    assert where in response.json()["detail"]
    assert (await client.get(JOBS)).json()["total"] == 0


async def test_body_that_is_not_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        JOBS, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"task_name": "echo", "timeout": NaN}', 400),
        (b'{"task_name": "echo", "retry_delay": Infinity}', 400),
        (b'{"task_name": "echo", "args": [-Infinity]}', 400),
        (b'{"task_name": "echo", "kwargs": {"x": NaN}}', 400),
    ],
)
async def test_non_finite_numbers_are_refused_with_a_detail(
    client: httpx.AsyncClient, raw: bytes, status: int
) -> None:
    """Python's JSON reader accepts NaN and Infinity; JSON does not, nor does the store:
    the domain refuses them at enqueue (400), in typed fields and free JSON values alike."""
    response = await client.post(JOBS, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    listed = await client.get(JOBS)
    assert listed.json()["total"] == 0


# -- get ----------------------------------------------------------------------
async def test_get_returns_the_job_and_404_names_the_missing_one(
    client: httpx.AsyncClient,
) -> None:
    job = await create(client, args=[1, 2])
    response = await client.get(f"{JOBS}/{job['id']}")
    assert response.status_code == 200
    # The reference's fields as created, plus the job-control additions.
    assert response.json() == {**job, "attempts": [], "progress": None}
    missing = await client.get(f"{JOBS}/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Job not found: nope"}


# -- list ---------------------------------------------------------------------
async def test_list_pagination_arithmetic(client: httpx.AsyncClient) -> None:
    for i in range(7):
        await create(client, args=[i])
    cases = [
        # (limit, offset) -> (page, pages, items)
        ((3, 0), (1, 3, 3)),
        ((3, 3), (2, 3, 3)),
        ((3, 4), (2, 3, 3)),
        ((3, 6), (3, 3, 1)),
        ((3, 9), (4, 3, 0)),
        ((7, 0), (1, 1, 7)),
        ((1000, 0), (1, 1, 7)),
    ]
    for (limit, offset), (page, pages, count) in cases:
        response = await client.get(JOBS, params={"limit": limit, "offset": offset})
        assert response.status_code == 200
        body = response.json()
        assert (body["total"], body["page_size"]) == (7, limit)
        assert (body["page"], body["pages"], len(body["items"])) == (page, pages, count)
    default = (await client.get(JOBS)).json()
    assert (default["page_size"], default["page"], default["pages"]) == (100, 1, 1)


async def test_an_empty_list_has_zero_pages(client: httpx.AsyncClient) -> None:
    body = (await client.get(JOBS)).json()
    assert body == {"items": [], "total": 0, "page": 1, "page_size": 100, "pages": 0}


async def test_list_filters(client: httpx.AsyncClient) -> None:
    a = await create(client, queue_name="alpha", priority="high", tags=["x", "y"])
    b = await create(client, queue_name="alpha", priority="low", tags=["x"])
    c = await create(client, task_name="add", args=[1, 2], tags=["y"])
    d = await create(client, priority="critical")
    assert (await client.post(f"{JOBS}/{d['id']}/cancel")).status_code == 200

    async def ids(**params: Any) -> set[str]:
        response = await client.get(JOBS, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["items"])
        return {job["id"] for job in body["items"]}

    assert await ids(queue_name="alpha") == {a["id"], b["id"]}
    assert await ids(priority="high") == {a["id"]}
    assert await ids(tags="x") == {a["id"], b["id"]}
    assert await ids(tags=["x", "y"]) == {a["id"]}
    assert await ids(task_name="add") == {c["id"]}
    assert await ids(status="cancelled") == {d["id"]}
    assert await ids(status=["cancelled", "pending"]) == {a["id"], b["id"], c["id"], d["id"]}
    assert await ids(status="completed") == set()
    assert await ids(worker_id="nobody") == set()
    assert await ids(queue_name="alpha", priority="low", tags="x") == {b["id"]}


async def test_list_order(client: httpx.AsyncClient) -> None:
    low = await create(client, priority="low")
    critical = await create(client, priority="critical")
    normal = await create(client, priority="normal")

    async def order(**params: Any) -> list[str]:
        response = await client.get(JOBS, params=params)
        assert response.status_code == 200, response.text
        return [job["id"] for job in response.json()["items"]]

    assert await order() == [normal["id"], critical["id"], low["id"]]
    assert await order(order_dir="asc") == [low["id"], critical["id"], normal["id"]]
    assert await order(order_by="priority", order_dir="asc") == [
        critical["id"],
        normal["id"],
        low["id"],
    ]
    assert await order(order_by="priority", order_dir="desc") == [
        low["id"],
        normal["id"],
        critical["id"],
    ]
    for field in ("scheduled_at", "started_at", "completed_at", "status", "task_name",
                  "queue_name", "retry_count", "id"):  # fmt: skip
        assert sorted(await order(order_by=field)) == sorted(
            [low["id"], critical["id"], normal["id"]]
        )


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": -1},
        {"limit": 1001},
        {"limit": "ten"},
        {"offset": -1},
        {"order_by": "password"},
        {"order_dir": "sideways"},
        {"status": "sleeping"},
        {"status": ["failed", "sleeping"]},
        {"priority": "urgent"},
    ],
)
async def test_invalid_list_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get(JOBS, params=params)
    assert response.status_code == 422
    assert response.json()["detail"]


# -- cancel and retry ---------------------------------------------------------
async def test_cancel_keeps_the_reason_and_a_second_cancel_is_409(
    client: httpx.AsyncClient,
) -> None:
    job = await create(client)
    response = await client.post(f"{JOBS}/{job['id']}/cancel", json=SEED_CANCEL)
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["metadata"]["cancel_reason"] == "User-initiated cancellation"
    assert cancelled["completed_at"] is not None
    again = await client.post(f"{JOBS}/{job['id']}/cancel")
    assert again.status_code == 409
    assert job["id"] in again.json()["detail"]


async def test_cancel_without_body_or_reason(client: httpx.AsyncClient) -> None:
    first, second = await create(client), await create(client)
    assert (await client.post(f"{JOBS}/{first['id']}/cancel")).status_code == 200
    response = await client.post(f"{JOBS}/{second['id']}/cancel", json={})
    assert response.status_code == 200
    assert "cancel_reason" not in response.json()["metadata"]


async def test_cancel_and_retry_of_unknown_jobs_are_404(client: httpx.AsyncClient) -> None:
    for action in ("cancel", "retry"):
        response = await client.post(f"{JOBS}/ghost/{action}")
        assert response.status_code == 404
        assert "ghost" in response.json()["detail"]


async def test_retry_sends_a_cancelled_job_back_and_refuses_a_pending_one(
    client: httpx.AsyncClient,
) -> None:
    job = await create(client)
    refused = await client.post(f"{JOBS}/{job['id']}/retry")
    assert refused.status_code == 409
    assert "pending" in refused.json()["detail"]
    await client.post(f"{JOBS}/{job['id']}/cancel", json={"reason": "oops"})
    response = await client.post(f"{JOBS}/{job['id']}/retry")
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["retry_count"] == 0


# -- with the embedded worker -------------------------------------------------
@pytest.mark.parametrize("worker_enabled", [True])
async def test_a_job_runs_to_completion_with_its_result(client: httpx.AsyncClient) -> None:
    body = {k: v for k, v in SEED_CREATE_JOB.items() if k not in ("job_id", "scheduled_at")}
    job = await create(client, **body)
    done = await wait_for_job(client, job["id"])
    assert done["status"] == "completed"
    assert done["result"] == {"processed": 42}
    assert done["worker_id"]
    assert done["duration"] is not None and done["duration"] >= 0
    listed = await client.get(JOBS, params={"worker_id": done["worker_id"]})
    assert [j["id"] for j in listed.json()["items"]] == [job["id"]]


@pytest.mark.parametrize("worker_enabled", [True])
async def test_failed_job_shows_its_error_can_be_retried_and_not_cancelled(
    client: httpx.AsyncClient,
) -> None:
    job = await create(client, task_name="fail", args=["broken"])
    failed = await wait_for_job(client, job["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "RuntimeError"
    assert failed["error"]["message"] == "broken"
    assert "Traceback" in failed["error"]["traceback"]
    refused = await client.post(f"{JOBS}/{job['id']}/cancel")
    assert refused.status_code == 409
    retried = await client.post(f"{JOBS}/{job['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["error"] is None
    again = await wait_for_job(client, job["id"])
    assert again["status"] == "failed"


@pytest.mark.parametrize("worker_enabled", [True])
async def test_run_sync_answers_the_raw_result_and_leaves_a_real_job(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(f"{JOBS}/run-sync", json=SEED_RUN_SYNC)
    assert response.status_code == 200
    assert response.json() == {"processed": 42}
    assert (
        await client.post(f"{JOBS}/run-sync", json={"task_name": "add", "args": [2, 3]})
    ).json() == 5
    none = await client.post(f"{JOBS}/run-sync", json={"task_name": "fail", "args": ["x"]})
    assert none.status_code == 500
    listed = (await client.get(JOBS, params={"status": ["completed", "failed"]})).json()
    assert listed["total"] == 3
    assert {j["metadata"].get("source") for j in listed["items"]} == {"api", None}


@pytest.mark.parametrize("worker_enabled", [True])
async def test_run_sync_task_error_is_500_with_the_error(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{JOBS}/run-sync", json={"task_name": "fail", "args": ["kaputt"]})
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert "RuntimeError" in detail and "kaputt" in detail


@pytest.mark.parametrize("worker_enabled", [True])
async def test_run_sync_past_the_timeout_is_504_naming_the_job(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{JOBS}/run-sync", json={"task_name": "sleep", "args": [5], "timeout": 0.3}
    )
    assert response.status_code == 504
    listed = (await client.get(JOBS, params={"task_name": "sleep"})).json()["items"]
    assert listed[0]["id"] in response.json()["detail"]


async def test_run_sync_without_a_worker_is_504_naming_the_job(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"{JOBS}/run-sync", json={"task_name": "add", "args": [1, 1], "timeout": 0.2}
    )
    assert response.status_code == 504
    pending = (await client.get(JOBS, params={"status": "pending"})).json()["items"]
    assert pending[0]["id"] in response.json()["detail"]


async def test_run_sync_unknown_task_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{JOBS}/run-sync", json={"task_name": "nope"})
    assert response.status_code == 400
    assert "Task not found: nope" in response.json()["detail"]


# -- stats --------------------------------------------------------------------
async def test_stats_of_an_empty_store(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{JOBS}/stats")
    assert response.status_code == 200
    stats = response.json()
    assert stats["total_jobs"] == 0
    assert stats["avg_wait_time"] is None and stats["avg_run_time"] is None


@pytest.mark.parametrize("worker_enabled", [True])
async def test_stats_count_and_average(client: httpx.AsyncClient, system: JobSystem) -> None:
    done = await create(client, task_name="add", args=[1, 2], priority="high")
    await wait_for_job(client, done["id"])
    await client.post(f"{JOBS}/run-sync", json={"task_name": "fail"})
    waiting = await create(client, queue_name="later", scheduled_at=LATER)
    cancelled = await create(client, scheduled_at=LATER, priority="low")
    await client.post(f"{JOBS}/{cancelled['id']}/cancel")
    stats = (await client.get(f"{JOBS}/stats")).json()
    assert stats["total_jobs"] == 4
    assert (stats["completed_jobs"], stats["failed_jobs"], stats["cancelled_jobs"]) == (1, 1, 1)
    assert (stats["pending_jobs"], stats["running_jobs"]) == (1, 0)
    assert stats["by_queue"]["later"] == {"total_jobs": 1, "pending_jobs": 1}
    assert stats["by_queue"]["default"]["total_jobs"] == 3
    assert stats["by_priority"] == {"critical": 0, "high": 1, "normal": 2, "low": 1}
    assert stats["by_status"]["pending"] == 1
    assert stats["avg_wait_time"] >= 0 and stats["avg_run_time"] >= 0
    assert waiting["status"] == "pending"
    job = await system.get(done["id"])
    assert job.started_at is not None


@pytest.mark.parametrize("worker_enabled", [True])
async def test_retry_delays_are_bounded_and_the_longest_one_settles(
    client: httpx.AsyncClient, system: JobSystem
) -> None:
    """A retry delay past the limit is refused; the limit itself leaves the job retrying."""
    longest = system.settings.limits.max_retry_delay
    for too_long in (1e12, longest + 1):
        body = {"task_name": "fail", "max_retries": 1, "retry_delay": too_long}
        refused = await client.post(JOBS, json=body)
        assert refused.status_code == 400, refused.text
        assert "retry_delay" in refused.json()["detail"]
    job = await create(client, task_name="fail", max_retries=1, retry_delay=longest)

    async def retrying() -> dict[str, Any] | None:
        view = (await client.get(f"{JOBS}/{job['id']}")).json()
        return view if view["status"] == "retrying" else None

    view = await eventually(retrying)
    due = datetime.fromisoformat(view["scheduled_at"]) - datetime.fromisoformat(view["created_at"])
    assert timedelta(seconds=longest - 60) < due <= timedelta(seconds=longest + 60)
    assert (await client.get(JOBS, params={"status": "retrying"})).json()["total"] == 1


async def test_the_api_holds_the_configured_bounds_not_its_own(
    tmp_path: Path, token: TokenMaker
) -> None:
    """The request models check types only, so a bound configured above the default
    admits what the default would refuse, for jobs and schedules alike."""
    system = make_system(tmp_path, limits=Limits(max_name_chars=300, max_retries=20_000))
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    long_name = "q" * 300
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {token()}"},
        ) as client,
    ):
        body = {"task_name": "echo", "queue_name": long_name, "tags": [long_name]}
        created = await client.post(JOBS, json={**body, "max_retries": 15_000})
        assert created.status_code == 201, created.text
        assert created.json()["queue_name"] == long_name
        schedule = {"name": long_name, "interval": {"minutes": 5}, **body}
        made = await client.post("/api/v1/schedules", json=schedule)
        assert made.status_code == 201, made.text
        assert made.json()["tags"] == [long_name]
        too_long = await client.post(JOBS, json={**body, "queue_name": long_name + "q"})
        assert too_long.status_code == 400
        assert "queue_name is longer than 300 characters" in too_long.json()["detail"]
