"""`uno-jobs stats`: the counts and averages of Get Job Statistics."""

from __future__ import annotations

from uno.jobs.api.dtos.jobs import JobStatsDto
from uno.jobs.cli import cli
from uno.jobs.cli.database import on_database
from uno.jobs.cli.options import DatabaseOption
from uno.jobs.cli.output import JsonOption, print_fields, print_json, print_table


@cli.command()
def stats(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Job counts by status, queue and priority, and the average wait and run times."""
    result = JobStatsDto.from_domain(on_database(database, lambda system: system.stats()))
    if as_json:
        print_json(result)
        return
    averages = [
        ("total jobs", result.total_jobs),
        ("average wait (s)", _seconds(result.avg_wait_time)),
        ("average run (s)", _seconds(result.avg_run_time)),
    ]
    print_fields("Jobs", averages)
    print_table("By status", ("status", "jobs"), result.by_status.items())
    queues = ((n, c.total_jobs, c.pending_jobs) for n, c in result.by_queue.items())
    print_table("By queue", ("queue", "jobs", "waiting"), queues)
    print_table("By priority", ("priority", "jobs"), result.by_priority.items())


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
