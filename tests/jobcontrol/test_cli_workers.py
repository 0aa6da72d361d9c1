"""`uno-jobs workers`: the workers and the work waiting for one, from the database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from helpers import make_job
from uno.jobs.cli import _register_commands, cli
from uno.jobs.clock import utcnow
from uno.jobs.store.sqlite import SQLiteStore
from uno.jobs.workers import TaskRef


async def _seed(url: str) -> str:
    store = SQLiteStore(url)
    await store.open()
    try:
        now = utcnow()
        await store.register_worker("w-1", "host-a", 42, ["q"], now, tasks=[TaskRef("a", "1")])
        job = make_job(task_name="a", queue_name="q", created_at=now)
        await store.insert_jobs([job, make_job(task_name="b", created_at=now)])
        await store.fetch_jobs("w-1", ["q"], 1, now, running=1, tasks=[TaskRef("a", "1")])
        return job.id
    finally:
        await store.close()


def test_workers_lists_them_as_json_and_as_a_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    running = asyncio.run(_seed(url))
    _register_commands()
    runner = CliRunner()
    env = {"UNO_JOBS_DATA_DIR": str(tmp_path / "data")}

    result = runner.invoke(cli, ["workers", "--database", url, "--json"], env=env)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    (worker,) = document["items"]
    assert (worker["id"], worker["hostname"], worker["pid"]) == ("w-1", "host-a", 42)
    assert worker["state"] == "alive" and worker["running_jobs"] == [running]
    assert worker["tasks"] == [{"name": "a", "version": "1"}]
    assert document["waiting_for_workers"] == [
        {"task_name": "b", "version": None, "waiting": 1, "runnable": False}
    ]

    table = runner.invoke(cli, ["workers", "--database", url], env={**env, "COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "w-1" in table.output and "alive" in table.output and "a@1" in table.output
    assert "1 job(s) of b wait for a worker that has the task" in table.output
