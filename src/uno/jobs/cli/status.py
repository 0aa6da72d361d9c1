"""`uno-jobs status`: one screen for an operator: the queues, the failures of the
last hour and the job that has waited longest.

``--watch`` redraws it every few seconds until Ctrl-C. A new section (workers,
for instance) is one more field of ``StatusReport``, filled in ``gather`` and
drawn in ``draw``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from uno.jobs.api.dtos.jobs import JobViewDto
from uno.jobs.api.dtos.queues import QueueDto
from uno.jobs.cli import cli
from uno.jobs.cli.database import on_database
from uno.jobs.cli.options import DatabaseOption
from uno.jobs.cli.output import JsonOption, console, print_json, print_table
from uno.jobs.jobs import Job, Status
from uno.jobs.queries import FAILED_STATUSES, PENDING_STATUSES, JobFilter, QueueInfo
from uno.jobs.system import JobSystem

#: How far back ``status`` counts failures.
FAILURE_WINDOW = timedelta(hours=1)
#: Failed jobs shown by name (the newest).
FAILURES_SHOWN = 5


@dataclass(slots=True)
class StatusReport:
    """What ``status`` shows, read in one pass over the database."""

    now: datetime
    queues: list[QueueInfo]
    #: Jobs that failed or timed out within ``FAILURE_WINDOW``; ``failures_capped``
    #: when there were more than one page could count.
    failures: list[Job]
    failures_capped: bool
    oldest_waiting: Job | None

    def to_json(self) -> dict[str, Any]:
        """The report with the REST API's DTOs for its queues and jobs."""
        return {
            "now": self.now.isoformat(),
            "queues": [QueueDto.from_domain(q).model_dump(mode="json") for q in self.queues],
            "failed_last_hour": len(self.failures),
            "failed_last_hour_capped": self.failures_capped,
            "recent_failures": [_job_json(j) for j in self.failures[:FAILURES_SHOWN]],
            "oldest_waiting": _job_json(self.oldest_waiting) if self.oldest_waiting else None,
        }


def _job_json(job: Job) -> dict[str, Any]:
    return JobViewDto.from_domain(job).model_dump(mode="json")


async def gather(system: JobSystem) -> StatusReport:
    """Read the report's parts from the store."""
    now = system.clock.now()
    page = system.settings.limits.max_page_size
    failed, _ = await system.list_jobs(
        JobFilter(
            statuses=tuple(FAILED_STATUSES),
            order_by="completed_at",
            order_dir="desc",
            limit=page,
        )
    )
    since = now - FAILURE_WINDOW
    recent = [j for j in failed if j.completed_at is not None and j.completed_at >= since]
    waiting, _ = await system.list_jobs(
        JobFilter(
            statuses=tuple(sorted(PENDING_STATUSES, key=lambda s: s.value)),
            order_by="created_at",
            order_dir="asc",
            limit=1,
        )
    )
    return StatusReport(
        now=now,
        queues=await system.list_queues(),
        failures=recent,
        failures_capped=len(recent) == page,
        oldest_waiting=waiting[0] if waiting else None,
    )


def draw(report: StatusReport) -> None:
    """The report as tables."""
    rows = ((q.name, q.size, "paused" if q.is_paused else "active") for q in report.queues)
    print_table("Queues", ("queue", "waiting", "state"), rows)
    count = f"{len(report.failures)}{'+' if report.failures_capped else ''}"
    failures = (
        (j.id, j.task_name, j.queue_name, j.status, j.completed_at, j.error and j.error.message)
        for j in report.failures[:FAILURES_SHOWN]
    )
    columns = ("id", "task", "queue", "status", "ended", "error")
    print_table(f"Failed in the last hour: {count}", columns, failures)
    oldest = report.oldest_waiting
    if oldest is None:
        console().print("Oldest waiting job: none")
        return
    assert oldest.created_at is not None
    waited = int((report.now - oldest.created_at).total_seconds())
    status = oldest.status.value if oldest.status is not Status.PENDING else "pending"
    console().print(
        f"Oldest waiting job: {oldest.id} ({oldest.task_name} on {oldest.queue_name}, "
        f"{status}, created {waited} s ago)"
    )


@cli.command()
def status(
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch", metavar="SECONDS", min=0.5, help="Redraw every SECONDS until Ctrl-C."
        ),
    ] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """One screen: queues, failures in the last hour and the oldest waiting job."""
    while True:
        report = on_database(database, gather)
        if as_json:
            print_json(report.to_json())
        else:
            if watch is not None:
                console().clear()
            draw(report)
        if watch is None:
            return
        try:
            time.sleep(watch)
        except KeyboardInterrupt:
            return
