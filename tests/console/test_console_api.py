"""The console's endpoints over HTTP: bulk retry and cancel (scopes, dry run,
batches, the max_bulk_jobs bound), the overview, wait reasons, the session, the
created-time filter of List Jobs, and the console page's security headers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.conftest import (  # the API tests' fixtures, shared
    ClientMaker,
    TokenMaker,
    app,
    client,
    clients,
    system,
    token,
    worker_enabled,
)
from helpers import make_job
from uno.jobs import JobSystem, console
from uno.jobs.jobs import Status
from uno.jobs.limits import Limits


async def _insert_failed(system: JobSystem, count: int, queue: str = "mail") -> None:
    now = system.clock.now()
    await system.store.insert_jobs(
        [
            make_job(
                task_name="echo",
                queue_name=queue,
                status=Status.FAILED,
                created_at=now - timedelta(minutes=5),
                completed_at=now - timedelta(minutes=4),
            )
            for _ in range(count)
        ]
    )


async def test_bulk_retry_counts_first_then_retries_only_the_filter(
    system: JobSystem, client: httpx.AsyncClient
) -> None:
    await _insert_failed(system, 7, "mail")
    await _insert_failed(system, 2, "web")
    body = {"filter": {"queue_name": "mail", "status": ["failed"]}, "dry_run": True}
    preview = await client.post("/api/v1/jobs/bulk-retry", json=body)
    assert preview.status_code == 200, preview.text
    assert preview.json() == {
        "action": "retry", "matched": 7, "changed": 0, "complete": True, "dry_run": True,
    }  # fmt: skip
    assert (await client.get("/api/v1/jobs?status=failed")).json()["total"] == 9
    done = await client.post("/api/v1/jobs/bulk-retry", json={**body, "dry_run": False})
    assert done.json()["changed"] == 7 and done.json()["complete"] is True
    pending = (await client.get("/api/v1/jobs?status=pending&queue_name=mail")).json()
    assert pending["total"] == 7
    assert (await client.get("/api/v1/jobs?status=failed")).json()["total"] == 2


async def test_bulk_stops_at_max_bulk_jobs_in_batches_and_says_it_is_incomplete(
    system: JobSystem, client: httpx.AsyncClient
) -> None:
    system.settings = system.settings.with_(limits=Limits(max_bulk_jobs=5, bulk_batch_size=2))
    await _insert_failed(system, 8)
    first = (await client.post("/api/v1/jobs/bulk-retry", json={})).json()
    assert (first["matched"], first["changed"], first["complete"]) == (8, 5, False)
    second = (await client.post("/api/v1/jobs/bulk-retry", json={})).json()
    assert (second["matched"], second["changed"], second["complete"]) == (3, 3, True)


async def test_bulk_cancel_keeps_reason_and_needs_write_scope(
    system: JobSystem, clients: ClientMaker, token: TokenMaker
) -> None:
    await system.store.insert_jobs([make_job(task_name="echo", queue_name="q") for _ in range(3)])
    reader = clients(token("jobs:read"))
    refused = await reader.post("/api/v1/jobs/bulk-cancel", json={})
    assert refused.status_code == 403 and "detail" in refused.json()
    writer = clients(token("jobs:read jobs:write"))
    body = {"filter": {"queue_name": "q"}, "reason": "maintenance"}
    done = (await writer.post("/api/v1/jobs/bulk-cancel", json=body)).json()
    assert done["changed"] == 3
    jobs = (await writer.get("/api/v1/jobs?status=cancelled")).json()["items"]
    assert {j["metadata"]["cancel_reason"] for j in jobs} == {"maintenance"}


async def test_bulk_cancel_cancels_running_jobs_as_a_single_cancel_would(
    system: JobSystem, client: httpx.AsyncClient
) -> None:
    """Waiting jobs go in batches; a running one through the one cancel verb, so its
    attempt is recorded as cancelled and its worker loses it."""
    now = system.clock.now()
    waiting = make_job(task_name="echo", queue_name="bulkrun")
    running = make_job(
        task_name="echo", queue_name="bulkrun", status=Status.RUNNING, worker_id="w1",
        created_at=now - timedelta(minutes=1), started_at=now - timedelta(seconds=30),
    )  # fmt: skip
    await system.store.insert_jobs([waiting, running])
    body = {"filter": {"queue_name": "bulkrun"}, "reason": "stop all"}
    done = (await client.post("/api/v1/jobs/bulk-cancel", json=body)).json()
    assert (done["matched"], done["changed"], done["complete"]) == (2, 2, True)
    view = (await client.get(f"/api/v1/jobs/{running.id}")).json()
    assert view["status"] == "cancelled" and view["worker_id"] is None
    assert [a["outcome"] for a in view["attempts"]] == ["cancelled"]
    assert (await system.get(waiting.id)).status == Status.CANCELLED


async def test_bulk_with_a_bad_filter_is_a_4xx_with_detail(client: httpx.AsyncClient) -> None:
    bad = await client.post("/api/v1/jobs/bulk-retry", json={"filter": {"status": ["nope"]}})
    assert bad.status_code in (400, 422) and bad.json()["detail"]
    nul = await client.post("/api/v1/jobs/bulk-retry", json={"filter": {"queue_name": "a\x00"}})
    assert nul.status_code in (400, 422) and nul.json()["detail"]


async def test_overview_has_history_queues_waits_and_failure_rate(
    system: JobSystem, client: httpx.AsyncClient
) -> None:
    await _insert_failed(system, 3)
    now = system.clock.now()
    await system.store.insert_jobs(
        [
            make_job(
                task_name="echo", queue_name="mail", created_at=now - timedelta(minutes=3),
                status=Status.COMPLETED, completed_at=now - timedelta(minutes=2),
            ),
            make_job(task_name="echo", queue_name="slow", created_at=now - timedelta(minutes=9)),
        ]
    )  # fmt: skip
    answer = await client.get("/api/v1/console/overview?minutes=30")
    assert answer.status_code == 200, answer.text
    view = answer.json()
    history = view["history"]
    assert sum(m["enqueued"] for m in history) == 5
    assert sum(m["failed"] for m in history) == 3
    assert sum(m["completed"] for m in history) == 1
    assert view["failure_rate"] == 0.75
    queues = {q["name"]: q for q in view["queues"]}
    assert queues["slow"]["size"] == 1 and queues["slow"]["oldest_wait_seconds"] >= 9 * 60
    assert queues["mail"]["oldest_due_at"] is None
    assert (queues["mail"]["failed"], queues["mail"]["completed"]) == (3, 1)
    assert queues["mail"]["failure_rate"] == 0.75 and queues["slow"]["enqueued"] == 1
    too_long = await client.get("/api/v1/console/overview?minutes=100000")
    assert too_long.status_code == 400 and "minutes" in too_long.json()["detail"]


async def test_overview_answers_without_statistics_while_a_first_count_runs(
    system: JobSystem, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _insert_failed(system, 2)
    monkeypatch.setattr(console, "STATS_WAIT_SECONDS", 0.05)
    counted = asyncio.Event()
    count = system.store.job_groups

    async def a_long_count() -> list[Any]:  # a first count of a large table
        await counted.wait()
        return await count()

    monkeypatch.setattr(system.store, "job_groups", a_long_count)
    answer = await client.get("/api/v1/console/overview")
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["stats"] is None
    assert sum(m["failed"] for m in view["history"]) == 2  # the rest is there
    counted.set()
    later = (await client.get("/api/v1/console/overview")).json()
    assert later["stats"]["failed_jobs"] == 2


async def test_wait_reasons_name_paused_queue_schedule_backoff_and_jobs_ahead(
    system: JobSystem, client: httpx.AsyncClient
) -> None:
    now = system.clock.now()
    first = make_job(task_name="echo", queue_name="q", created_at=now - timedelta(minutes=2))
    second = make_job(task_name="echo", queue_name="q", created_at=now - timedelta(minutes=1))
    later = make_job(task_name="echo", queue_name="q", scheduled_at=now + timedelta(hours=1))
    backoff = make_job(
        task_name="echo", queue_name="q", status=Status.RETRYING, retry_count=1,
        scheduled_at=now + timedelta(minutes=5),
    )  # fmt: skip
    done = make_job(task_name="echo", status=Status.COMPLETED, completed_at=now)
    await system.store.insert_jobs([first, second, later, backoff, done])
    unserved = make_job(task_name="echo", queue_name="nobody-serves-it")
    await system.store.insert_jobs([unserved])
    await system.store.register_worker("w", "host", 1, ["q"], now)

    async def codes(job_id: str) -> list[str]:
        answer = await client.get(f"/api/v1/jobs/{job_id}/wait-reasons")
        assert answer.status_code == 200, answer.text
        return [r["code"] for r in answer.json()["reasons"]]

    assert await codes(first.id) == ["next_in_line"]
    assert await codes(second.id) == ["jobs_ahead"]
    assert await codes(later.id) == ["scheduled"]
    assert await codes(backoff.id) == ["retry_backoff"]
    assert await codes(done.id) == ["not_waiting"]
    assert await codes(unserved.id) == ["no_worker"]
    assert (await client.post("/api/v1/queues/q/pause")).status_code == 204
    assert await codes(first.id) == ["queue_paused"]
    missing = await client.get("/api/v1/jobs/nope/wait-reasons")
    assert missing.status_code == 404 and missing.json()["detail"]


async def test_session_reports_the_token_s_scopes(clients: ClientMaker, token: TokenMaker) -> None:
    reader = (await clients(token("jobs:read")).get("/api/v1/console/session")).json()
    assert reader == {"auth": True, "subject": "tester", "scopes": ["jobs:read"]}
    anonymous = await clients().get("/api/v1/console/session")
    assert anonymous.status_code == 401


async def test_list_jobs_filters_by_created_time(
    system: JobSystem, client: httpx.AsyncClient
) -> None:
    now = system.clock.now()
    old = make_job(task_name="echo", created_at=now - timedelta(hours=2))
    new = make_job(task_name="echo", created_at=now - timedelta(minutes=1))
    await system.store.insert_jobs([old, new])
    since = (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    page = (await client.get("/api/v1/jobs", params={"created_after": since})).json()
    assert [j["id"] for j in page["items"]] == [new.id]
    page = (await client.get("/api/v1/jobs", params={"created_before": since})).json()
    assert [j["id"] for j in page["items"]] == [old.id]


__all__ = ["app", "client", "clients", "system", "token", "worker_enabled"]
