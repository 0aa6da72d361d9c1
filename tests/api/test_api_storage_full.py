"""A full SQLite database answers a storage error with a detail, never a 500, and
the API takes writes again once room is made."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.conftest import SECRET
from uno.jobs import JobSystem, Settings
from uno.jobs.demo import registry as demo_registry
from uno.jobs.store.sqlite import SQLiteStore

JOBS = "/api/v1/jobs"
QUEUES = "/api/v1/queues"


@pytest.fixture
def system(tmp_path: Path) -> JobSystem:
    """The demo tasks over a SQLite file that may not grow past 256 KiB."""
    store = SQLiteStore(f"sqlite:///{tmp_path}/jobs.db", max_size=256 * 1024)
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, shutdown_grace=2.0)
    return JobSystem(store=store, settings=settings, registry=demo_registry)


async def test_a_full_database_answers_a_storage_error_and_recovers(
    client: httpx.AsyncClient,
) -> None:
    body = {"task_name": "echo", "args": ["x" * 2000]}
    accepted = 0
    for _ in range(1000):
        response = await client.post(JOBS, json=body)
        if response.status_code != 201:
            break
        accepted += 1
    assert accepted > 0
    assert response.status_code in (503, 507), response.text
    assert "jobs.db" in response.json()["detail"] and "full" in response.json()["detail"]
    listed = await client.get(JOBS, params={"limit": 1})
    assert listed.status_code == 200 and listed.json()["total"] == accepted

    assert (await client.post(f"{QUEUES}/default/clear")).status_code in (200, 204)
    assert (await client.post(JOBS, json=body)).status_code == 201
