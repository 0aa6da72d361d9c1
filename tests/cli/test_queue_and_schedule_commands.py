"""`uno-jobs queues`, `schedules`, `stats` and `status` as real processes, on SQLite
and PostgreSQL, with their JSON, refusals and not-found cases."""

from __future__ import annotations

import asyncio

import pytest
from cli_support import Cli, assert_one_line_failure

from uno.jobs import JobSystem

pytestmark = pytest.mark.slow


def test_pause_resume_and_clear_a_queue(cli: Cli, database: str) -> None:
    for arg in ("1", "2"):
        cli.json("jobs", "enqueue", "add", "--arg", arg, "--queue", "maths", "--database", database)

    queues = cli.json("queues", "list", "--database", database)
    assert {"name": "maths", "size": 2, "is_paused": False} in queues["items"]

    paused = cli.json("queues", "pause", "maths", "--database", database)
    assert paused == {"name": "maths", "size": 2, "is_paused": True}
    assert cli.json("queues", "resume", "maths", "--database", database)["is_paused"] is False

    refused = cli("queues", "clear", "maths", "--database", database)  # no terminal, no --yes
    assert_one_line_failure(refused, 1, "Refused without --yes")
    assert cli.json("jobs", "list", "--queue", "maths", "--database", database)["total"] == 2

    cleared = cli.json("queues", "clear", "maths", "--yes", "--database", database)
    assert cleared == {"name": "maths", "cleared": 2}
    assert cli.json("jobs", "list", "--queue", "maths", "--database", database)["total"] == 0

    unknown = cli("queues", "pause", "no-such-queue", "--database", database)
    assert_one_line_failure(unknown, 1, "Queue not found: no-such-queue")


async def _create_schedule(url: str) -> str:
    """A schedule made through the Python API, which needs the task registered."""
    system = JobSystem(url)
    system.task(name="add")(lambda a, b: a + b)
    try:
        schedule = await system.schedules.create(
            "Hourly sum", "add", interval={"hours": 1}, args=[1, 2], queue_name="maths"
        )
    finally:
        await system.close()
    return schedule.id


def test_schedules_show_pause_resume_run_and_delete(cli: Cli, database: str) -> None:
    schedule_id = asyncio.run(_create_schedule(database))

    listed = cli.json("schedules", "list", "--database", database)
    assert [s["id"] for s in listed["items"]] == [schedule_id] and listed["total"] == 1
    shown = cli.json("schedules", "show", schedule_id, "--database", database)
    assert shown["interval"]["hours"] == 1 and shown["status"] == "active"

    paused = cli.json("schedules", "pause", schedule_id, "--database", database)
    assert paused["status"] == "paused" and paused["next_run_at"] is None
    resumed = cli.json("schedules", "resume", schedule_id, "--database", database)
    assert resumed["status"] == "active" and resumed["next_run_at"] is not None

    job = cli.json("schedules", "run", schedule_id, "--database", database)
    assert (job["task_name"], job["args"], job["queue_name"]) == ("add", [1, 2], "maths")
    assert job["metadata"]["schedule_id"] == schedule_id
    after = cli.json("schedules", "show", schedule_id, "--database", database)
    assert after["next_run_at"] == resumed["next_run_at"]  # a run out of turn moves nothing

    refused = cli("schedules", "delete", schedule_id, "--database", database)
    assert_one_line_failure(refused, 1, "Refused without --yes")
    deleted = cli.json("schedules", "delete", schedule_id, "--yes", "--database", database)
    assert deleted == {"id": schedule_id, "deleted": True}
    gone = cli("schedules", "show", schedule_id, "--database", database)
    assert_one_line_failure(gone, 1, f"Schedule not found: {schedule_id}")


def test_stats_and_status(cli: Cli, database: str) -> None:
    job = cli.json("jobs", "enqueue", "add", "--arg", "1", "--database", database)
    other = cli.json("jobs", "enqueue", "add", "--queue", "q2", "--database", database)
    cli.json("jobs", "cancel", other["id"], "--database", database)

    stats = cli.json("stats", "--database", database)
    assert (stats["total_jobs"], stats["pending_jobs"], stats["cancelled_jobs"]) == (2, 1, 1)
    assert stats["by_queue"]["q2"] == {"total_jobs": 1, "pending_jobs": 0}

    status = cli.json("status", "--database", database)
    assert status["oldest_waiting"]["id"] == job["id"]
    assert status["failed_last_hour"] == 0 and status["recent_failures"] == []
    assert {"name": "default", "size": 1, "is_paused": False} in status["queues"]

    screen = cli("status", "--database", database)
    assert screen.returncode == 0, screen.stderr
    assert f"Oldest waiting job: {job['id']}" in screen.stdout
    assert "Failed in the last hour: 0" in screen.stdout
