"""run-sync cannot hold the server: a bounded wait that ends when the client leaves
or the server stops, and a paused queue refused at once; /queues in pages."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.conftest import TokenMaker, make_system
from helpers import eventually
from uno.jobs import JobSystem
from uno.jobs.api.routes.jobs import _disconnected
from uno.jobs.errors import WaitAbandoned, WaitTimeout
from uno.jobs.limits import Limits
from uno.jobs.metrics import JobMetrics

RUN_SYNC = "/api/v1/jobs/run-sync"
#: A job the worker-less app of these tests never starts.
NEVER_RUN = {"task_name": "sleep", "args": [60], "timeout": 120}


async def _waiting(system: JobSystem, count: int) -> bool:
    return system.waiting == count


async def test_run_sync_into_a_paused_queue_is_409_at_once_and_writes_nothing(
    client: httpx.AsyncClient, system: JobSystem
) -> None:
    assert (await client.post("/api/v1/queues/reports/pause")).status_code == 204
    response = await asyncio.wait_for(
        client.post(RUN_SYNC, json={"task_name": "generate_report", "args": ["daily"]}), 5
    )
    assert response.status_code == 409
    assert "'reports' is paused" in response.json()["detail"]
    # The task's own queue counts too, and a queue named in the request.
    named = await client.post(RUN_SYNC, json={**NEVER_RUN, "queue_name": "reports"})
    assert named.status_code == 409
    assert (await client.get("/api/v1/jobs")).json()["total"] == 0


async def test_run_sync_waits_at_most_max_run_sync_wait(tmp_path: Path, token: TokenMaker) -> None:
    system = make_system(tmp_path, limits=Limits(max_run_sync_wait=0.3))
    app = create_test_app(system)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {token()}"},
        ) as client,
    ):
        response = await asyncio.wait_for(client.post(RUN_SYNC, json=NEVER_RUN), 10)
        assert response.status_code == 504
        (job,) = (await client.get("/api/v1/jobs")).json()["items"]
        assert job["id"] in response.json()["detail"]
        assert "0.3 seconds" in response.json()["detail"]
        assert job["status"] == "pending"  # the job itself goes on


def create_test_app(system: JobSystem) -> FastAPI:
    from uno.jobs.api import create_app

    return create_app(system, embedded_worker=False, embedded_scheduler=False)


async def test_the_wait_ends_when_the_client_disconnects(
    app: FastAPI, system: JobSystem, token: TokenMaker
) -> None:
    """Driven over raw ASGI, where the test decides when the client goes."""
    gone = asyncio.Event()
    body = json.dumps(NEVER_RUN).encode()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if body_sent.is_set():
            await gone.wait()
            return {"type": "http.disconnect"}
        body_sent.set()
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    body_sent = asyncio.Event()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": RUN_SYNC,
        "raw_path": RUN_SYNC.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"authorization", f"Bearer {token()}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
    }
    request = asyncio.create_task(app(scope, receive, send))
    await eventually(lambda: _waiting(system, 1))
    gone.set()
    await asyncio.wait_for(request, 5)
    assert system.waiting == 0
    jobs, total = await system.list_jobs()
    assert total == 1 and jobs[0].status.value == "pending"  # the job itself goes on


async def test_stop_waiting_answers_503_to_the_waiting_client(
    client: httpx.AsyncClient, system: JobSystem
) -> None:
    request = asyncio.create_task(client.post(RUN_SYNC, json=NEVER_RUN))
    await eventually(lambda: _waiting(system, 1))
    system.stop_waiting()
    response = await asyncio.wait_for(request, 5)
    assert response.status_code == 503
    (job,) = (await client.get("/api/v1/jobs")).json()["items"]
    assert job["id"] in response.json()["detail"]
    assert "stopping" in response.json()["detail"]
    # New waits are refused at once until the system is opened again.
    again = await asyncio.wait_for(client.post(RUN_SYNC, json=NEVER_RUN), 5)
    assert again.status_code == 503


async def test_metrics_count_waiters_and_render_off_the_event_loop(
    client: httpx.AsyncClient, system: JobSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    collect = JobMetrics.collect

    def recording_collect(self: JobMetrics) -> Any:
        threads.append(threading.get_ident())
        return collect(self)

    monkeypatch.setattr(JobMetrics, "collect", recording_collect)
    request = asyncio.create_task(client.post(RUN_SYNC, json=NEVER_RUN))
    await eventually(lambda: _waiting(system, 1))
    scraped = (await client.get("/metrics")).text
    assert "uno_jobs_waiters 1.0" in scraped
    assert threads and threading.get_ident() not in threads
    system.stop_waiting()
    await request


async def test_many_waiters_share_one_poll_of_the_store(
    system: JobSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    await system.open()
    jobs = [await system.enqueue("sleep", [60]) for _ in range(100)]
    reads = {"one": 0, "many": 0}
    store = system.store
    get_job, get_jobs = store.get_job, store.get_jobs

    async def counted_get_job(job_id: str) -> Any:
        reads["one"] += 1
        return await get_job(job_id)

    async def counted_get_jobs(job_ids: Any) -> Any:
        reads["many"] += 1
        return await get_jobs(job_ids)

    monkeypatch.setattr(store, "get_job", counted_get_job)
    monkeypatch.setattr(store, "get_jobs", counted_get_jobs)
    waits = [asyncio.create_task(system.wait(job.id, 0.8)) for job in jobs]
    results = await asyncio.gather(*waits, return_exceptions=True)
    assert all(type(r).__name__ == "WaitTimeout" for r in results)
    assert system.waiting == 0
    # One read each to start, then shared polls: not one poll per waiter every 250 ms.
    assert reads["one"] <= len(jobs) + 5
    assert reads["many"] <= 30
    await system.close()


@pytest.mark.parametrize("worker_enabled", [False])
async def test_queues_come_in_pages_with_the_total(
    client: httpx.AsyncClient, system: JobSystem
) -> None:
    for i in range(120):
        await system.enqueue("echo", queue_name=f"q{i:03d}")
    first = (await client.get("/api/v1/queues")).json()
    names = sorted({f"q{i:03d}" for i in range(120)} | {"default", "reports"})
    assert first["total"] == len(names) == 122
    assert [q["name"] for q in first["items"]] == names[:100]  # default_queue_page
    page = (await client.get("/api/v1/queues", params={"limit": 5, "offset": 100})).json()
    assert [q["name"] for q in page["items"]] == names[100:105]
    assert page["items"][0] == {"name": names[100], "size": 1, "is_paused": False}
    assert page["total"] == 122
    too_big = await client.get("/api/v1/queues", params={"limit": 1001})
    assert too_big.status_code == 400 and "limit" in too_big.json()["detail"]
    assert (await client.get("/api/v1/queues", params={"limit": 0})).status_code == 422


async def test_a_request_channel_that_never_blocks_is_not_read_in_a_busy_loop() -> None:
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"", "more_body": False}

    watcher = asyncio.create_task(_disconnected(receive))
    await asyncio.sleep(0.2)  # a window of time in which a busy loop would read thousands
    watcher.cancel()
    assert reads == 1


async def test_waits_are_accepted_again_once_the_system_is_reopened(system: JobSystem) -> None:
    job = await system.enqueue("sleep", [60])
    system.stop_waiting()
    with pytest.raises(WaitAbandoned, match="stopping"):
        await asyncio.wait_for(system.wait(job.id, 60), 5)
    await system.close()
    await system.open()
    with pytest.raises(WaitTimeout):
        await system.wait(job.id, 0.05)
    await system.close()
