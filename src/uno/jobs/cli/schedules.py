"""`uno-jobs schedules`: list, show, pause, resume, delete and run schedules now.

``run`` enqueues one job with the schedule's settings at once, by name, marked
with the schedule in its metadata; it is no occurrence, so ``last_run_at`` and
``next_run_at`` stay as they are.
"""

from __future__ import annotations

from typing import Annotated

import typer

from uno.jobs.api.dtos.jobs import JobViewDto
from uno.jobs.api.dtos.schedules import ScheduleListDto, ScheduleViewDto
from uno.jobs.cli import cli
from uno.jobs.cli.database import check_page, on_database
from uno.jobs.cli.options import DatabaseOption
from uno.jobs.cli.output import (
    JsonOption,
    YesOption,
    confirm,
    print_fields,
    print_json,
    print_table,
)
from uno.jobs.schedules import Schedule
from uno.jobs.system import JobSystem

schedules_cli = typer.Typer(
    name="schedules",
    help="List, inspect, pause, resume, delete and run schedules.",
    no_args_is_help=True,
)
cli.add_typer(schedules_cli)

ScheduleIdArgument = Annotated[
    str, typer.Argument(metavar="SCHEDULE_ID", help="The schedule's id.")
]


def _rule(schedule: Schedule) -> str:
    if schedule.cron_expression is not None:
        return f"cron {schedule.cron_expression} ({schedule.timezone})"
    view = ScheduleViewDto.from_domain(schedule).interval
    parts = view.model_dump(exclude_none=True) if view is not None else {}
    return "every " + " ".join(f"{n} {unit}" for unit, n in parts.items() if n)


@schedules_cli.command("list")
def list_schedules(
    status: Annotated[
        str | None, typer.Option("--status", metavar="STATUS", help="active or paused.")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", metavar="TAG", help="Repeatable: schedules having all of them."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="Page size.")] = 100,
    offset: Annotated[int, typer.Option("--offset", metavar="N", help="Schedules to skip.")] = 0,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List schedules, oldest first."""

    async def work(system: JobSystem) -> tuple[list[Schedule], int]:
        check_page(limit, offset, system.settings.limits)
        return await system.schedules.list(status, tag or (), limit, offset)

    schedules, total = on_database(database, work)
    if as_json:
        print_json(ScheduleListDto.from_page(schedules, total, limit, offset))
        return
    rows = (
        (s.id, s.name, s.task_name, s.status, _rule(s), s.next_run_at, s.last_run_at)
        for s in schedules
    )
    columns = ("id", "name", "task", "status", "rule", "next run", "last run")
    print_table(f"Schedules ({total})", columns, rows)


def _print_schedule(schedule: Schedule, as_json: bool) -> None:
    view = ScheduleViewDto.from_domain(schedule)
    if as_json:
        print_json(view)
    else:
        print_fields(f"Schedule {schedule.id}", view.model_dump().items())


@schedules_cli.command("show")
def show(
    schedule_id: ScheduleIdArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Show one schedule with its rule, its job's settings and its last and next run."""
    _print_schedule(on_database(database, lambda s: s.schedules.get(schedule_id)), as_json)


@schedules_cli.command("pause")
def pause(
    schedule_id: ScheduleIdArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Stop firing the schedule (pausing twice is harmless)."""
    _print_schedule(on_database(database, lambda s: s.schedules.pause(schedule_id)), as_json)


@schedules_cli.command("resume")
def resume(
    schedule_id: ScheduleIdArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Fire the schedule again from its next occurrence after now (no burst of missed runs)."""
    _print_schedule(on_database(database, lambda s: s.schedules.resume(schedule_id)), as_json)


@schedules_cli.command("delete")
def delete(
    schedule_id: ScheduleIdArgument,
    yes: YesOption = False,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete the schedule (its jobs stay); asks first."""
    confirm(f"Delete schedule {schedule_id}?", yes)
    on_database(database, lambda s: s.schedules.delete(schedule_id))
    if as_json:
        print_json({"id": schedule_id, "deleted": True})
    else:
        typer.echo(f"Schedule {schedule_id} deleted")


@schedules_cli.command("run")
def run(
    schedule_id: ScheduleIdArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Enqueue the schedule's job now, out of turn (its next run stays as it is)."""
    job = on_database(database, lambda s: s.schedules.run_now(schedule_id))
    if as_json:
        print_json(JobViewDto.from_domain(job))
    else:
        typer.echo(f"Enqueued job {job.id} for schedule {schedule_id} ({job.task_name})")
