"""`uno-jobs workers`: the workers sharing a database, as ``GET /api/v1/workers``
shows them, read straight from the database (no API server needed)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from uno.jobs import job_control
from uno.jobs.cli import cli
from uno.jobs.cli.options import DatabaseOption
from uno.jobs.job_control import WorkerView
from uno.jobs.settings import Settings
from uno.jobs.system import JobSystem
from uno.jobs.workers import TaskBacklog

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document instead of a table.")]


@cli.command()
def workers(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """List the workers: state (alive, silent, gone), tasks, running jobs and counts,
    and the waiting jobs no live worker can run."""
    settings = Settings.from_env().with_(database_url=database)
    views, backlog = asyncio.run(_read(settings))
    if as_json:
        typer.echo(json.dumps(_document(views, backlog), indent=2))
        return
    console = Console()
    console.print(_table(views))
    unserved = [b for b in backlog if not b.runnable]
    for b in unserved:
        version = f" version {b.version}" if b.version else ""
        console.print(
            f"{b.waiting} job(s) of {b.task_name}{version} wait for a worker that has the task"
        )


async def _read(settings: Settings) -> tuple[list[WorkerView], list[TaskBacklog]]:
    system = JobSystem(settings=settings)
    try:
        return await job_control.workers(system), await job_control.backlog(system)
    finally:
        await system.close()


def _tasks(view: WorkerView) -> list[str] | None:
    tasks = view.worker.tasks
    return (
        None if tasks is None else [f"{t.name}@{t.version}" if t.version else t.name for t in tasks]
    )


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _document(views: list[WorkerView], backlog: list[TaskBacklog]) -> dict[str, Any]:
    """The same fields as ``GET /api/v1/workers``."""
    return {
        "items": [
            {
                "id": v.worker.id,
                "hostname": v.worker.hostname,
                "pid": v.worker.pid,
                "queues": v.worker.queues,
                "tasks": None
                if v.worker.tasks is None
                else [{"name": t.name, "version": t.version} for t in v.worker.tasks],
                "started_at": _iso(v.worker.started_at),
                "last_heartbeat": _iso(v.worker.heartbeat_at),
                "state": v.state.value,
                "running_jobs": v.worker.running_jobs,
                "processed": v.worker.processed,
                "failed": v.worker.failed,
            }
            for v in views
        ],
        "total": len(views),
        "waiting_for_workers": [
            {
                "task_name": b.task_name,
                "version": b.version,
                "waiting": b.waiting,
                "runnable": False,
            }
            for b in backlog
            if not b.runnable
        ],
    }


def _table(views: list[WorkerView]) -> Table:
    table = Table(title="Workers")
    for column in ("id", "host", "pid", "state", "queues", "tasks", "running", "processed",
                   "failed", "last heartbeat"):  # fmt: skip
        table.add_column(column)
    for v in views:
        w = v.worker
        tasks = _tasks(v)
        table.add_row(
            w.id,
            w.hostname,
            str(w.pid),
            v.state.value,
            "all" if w.queues is None else ", ".join(w.queues),
            "any" if tasks is None else ", ".join(tasks),
            str(len(w.running_jobs)),
            str(w.processed),
            str(w.failed),
            w.heartbeat_at.isoformat(timespec="seconds"),
        )
    return table
