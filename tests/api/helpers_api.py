"""Small helpers of the API tests: seed bodies and polling a job to its end."""

from __future__ import annotations

from typing import Any

import httpx

from helpers import eventually
from uno.jobs.jobs import FINISHED as FINISHED_STATUSES

FINISHED = {status.value for status in FINISHED_STATUSES}

#: The request bodies of the Jobs API reference, verbatim.
SEED_CREATE_JOB: dict[str, Any] = {
    "task_name": "process_data",
    "args": [42, "test"],
    "kwargs": {"format": "json"},
    "queue_name": "default",
    "priority": "normal",
    "scheduled_at": "2023-06-15T10:00:00Z",
    "max_retries": 3,
    "retry_delay": 60,
    "timeout": 300,
    "tags": ["data", "processing"],
    "metadata": {"source": "api"},
    "version": "1.0",
    "job_id": "custom-job-id",
}
SEED_RUN_SYNC: dict[str, Any] = {
    "task_name": "process_data",
    "args": [42, "test"],
    "kwargs": {"format": "json"},
    "queue_name": "default",
    "priority": "normal",
    "timeout": 300,
    "metadata": {"source": "api"},
    "version": "1.0",
}
SEED_CRON_SCHEDULE: dict[str, Any] = {
    "name": "Daily Report",
    "task_name": "generate_report",
    "cron_expression": "0 0 * * *",
    "args": ["daily"],
    "kwargs": {"format": "pdf"},
    "queue_name": "reports",
    "priority": "normal",
    "tags": ["report", "daily"],
    "metadata": {"department": "accounting"},
    "max_retries": 3,
    "retry_delay": 60,
    "timeout": 600,
    "version": "1.0",
}
SEED_INTERVAL_SCHEDULE: dict[str, Any] = {
    "name": "Hourly Check",
    "task_name": "check_status",
    "interval": {"hours": 1, "minutes": 0, "seconds": 0, "days": 0},
    "args": [],
    "kwargs": {},
    "queue_name": "default",
    "priority": "low",
    "tags": ["monitoring"],
    "metadata": {},
    "max_retries": 1,
    "retry_delay": 30,
    "version": "1.0",
}
SEED_UPDATE_SCHEDULE: dict[str, Any] = {
    "name": "Updated Daily Report",
    "cron_expression": "0 1 * * *",
    "args": ["daily"],
    "kwargs": {"format": "excel"},
    "priority": "high",
    "tags": ["report", "daily", "important"],
    "max_retries": 5,
    "status": "active",
}
SEED_CANCEL: dict[str, Any] = {"reason": "User-initiated cancellation"}


async def wait_for_job(
    client: httpx.AsyncClient, job_id: str, *, timeout: float = 10.0, prefix: str = "/api/v1"
) -> dict[str, Any]:
    """Poll the job until it is finished; fail after ``timeout`` seconds."""

    async def finished() -> dict[str, Any] | None:
        response = await client.get(f"{prefix}/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job if job["status"] in FINISHED else None

    return await eventually(finished, timeout=timeout, what=f"job {job_id} to finish")
