"""Queue and task endpoints."""

from __future__ import annotations

import httpx
import pytest

QUEUES = "/api/v1/queues"
TASKS = "/api/v1/tasks"


async def test_list_queues_names_task_and_job_queues(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/jobs", json={"task_name": "echo", "queue_name": "adhoc"})
    await client.post("/api/v1/jobs", json={"task_name": "echo", "queue_name": "adhoc"})
    response = await client.get(QUEUES)
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == len(body["items"]) == 3
    assert body["items"] == [
        {"name": "adhoc", "size": 2, "is_paused": False},
        {"name": "default", "size": 0, "is_paused": False},
        {"name": "reports", "size": 0, "is_paused": False},
    ]


async def test_pause_resume_and_clear_a_queue(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.post("/api/v1/jobs", json={"task_name": "generate_report"})
    paused = await client.post(f"{QUEUES}/reports/pause")
    assert (paused.status_code, paused.content) == (204, b"")
    queues = {q["name"]: q for q in (await client.get(QUEUES)).json()["items"]}
    assert queues["reports"] == {"name": "reports", "size": 3, "is_paused": True}
    assert (await client.post(f"{QUEUES}/reports/resume")).status_code == 204
    cleared = await client.post(f"{QUEUES}/reports/clear")
    assert cleared.status_code == 204
    queues = {q["name"]: q for q in (await client.get(QUEUES)).json()["items"]}
    assert queues["reports"] == {"name": "reports", "size": 0, "is_paused": False}
    assert (await client.get("/api/v1/jobs")).json()["total"] == 0


@pytest.mark.parametrize("action", ["pause", "resume", "clear"])
async def test_unknown_queue_is_404(client: httpx.AsyncClient, action: str) -> None:
    response = await client.post(f"{QUEUES}/nowhere/{action}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Queue not found: nowhere"}


async def test_list_tasks_matches_the_seed(client: httpx.AsyncClient) -> None:
    response = await client.get(TASKS)
    assert response.status_code == 200
    body = response.json()
    tasks = {t["name"]: t for t in body["items"]}
    assert body["total"] == len(tasks)
    assert {
        "process_data",
        "generate_report",
        "check_status",
        "echo",
        "add",
        "sleep",
        "fail",
    } <= set(tasks)
    assert tasks["process_data"] == {
        "name": "process_data",
        "description": "Process data with various options",
        "is_async": True,
        "timeout": 300,
        "max_retries": 3,
        "retry_delay": 60,
        "queue": "default",
        "version": "1.0",
    }
    assert tasks["generate_report"] == {
        "name": "generate_report",
        "description": "Generate a report in various formats",
        "is_async": True,
        "timeout": 600,
        "max_retries": 2,
        "retry_delay": 120,
        "queue": "reports",
        "version": "1.0",
    }
    assert tasks["echo"]["is_async"] is False


async def test_get_task_by_name_and_version(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{TASKS}/process_data")
    assert response.status_code == 200
    assert response.json()["name"] == "process_data"
    versioned = await client.get(f"{TASKS}/process_data", params={"version": "1.0"})
    assert versioned.json() == response.json()
    wrong_version = await client.get(f"{TASKS}/process_data", params={"version": "2.0"})
    assert wrong_version.status_code == 404
    assert "2.0" in wrong_version.json()["detail"]
    missing = await client.get(f"{TASKS}/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Task not found: nope"}
