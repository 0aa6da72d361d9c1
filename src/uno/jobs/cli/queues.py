"""`uno-jobs queues`: list queues and pause, resume or clear one.

A pause is stored, so every worker on every machine honours it. Clearing deletes
the queue's waiting jobs and asks first (``--yes`` to skip the question).
"""

from __future__ import annotations

from typing import Annotated

import typer

from uno.jobs.api.dtos.queues import QueueDto, QueueListDto
from uno.jobs.cli import cli
from uno.jobs.cli.database import check_page, on_database
from uno.jobs.cli.options import DatabaseOption
from uno.jobs.cli.output import JsonOption, YesOption, confirm, print_json, print_table
from uno.jobs.queries import QueueInfo
from uno.jobs.system import JobSystem

queues_cli = typer.Typer(
    name="queues", help="List queues; pause, resume or clear one.", no_args_is_help=True
)
cli.add_typer(queues_cli)

QueueArgument = Annotated[str, typer.Argument(metavar="QUEUE", help="The queue's name.")]


@queues_cli.command("list")
def list_queues(
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="Page size.")] = 100,
    offset: Annotated[int, typer.Option("--offset", metavar="N", help="Queues to skip.")] = 0,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """List queues by name with their waiting jobs and whether they are paused."""

    async def work(system: JobSystem) -> tuple[list[QueueInfo], int]:
        check_page(limit, offset, system.settings.limits)
        return await system.queue_page(limit, offset)

    queues, total = on_database(database, work)
    if as_json:
        print_json(QueueListDto.from_page(queues, total))
        return
    rows = ((q.name, q.size, "paused" if q.is_paused else "active") for q in queues)
    print_table(f"Queues ({total})", ("queue", "waiting", "state"), rows)


async def _queue(system: JobSystem, name: str) -> QueueInfo:
    queues = {q.name: q for q in await system.list_queues()}
    return queues.get(name) or QueueInfo(name=name, size=0, is_paused=False)


def _report(queue: QueueInfo, as_json: bool) -> None:
    if as_json:
        print_json(QueueDto.from_domain(queue))
    else:
        state = "paused" if queue.is_paused else "active"
        typer.echo(f"Queue {queue.name} is {state} ({queue.size} waiting)")


@queues_cli.command("pause")
def pause(
    queue: QueueArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Stop every worker from fetching the queue's jobs (running jobs finish)."""

    async def work(system: JobSystem) -> QueueInfo:
        await system.pause_queue(queue)
        return await _queue(system, queue)

    _report(on_database(database, work), as_json)


@queues_cli.command("resume")
def resume(
    queue: QueueArgument, database: DatabaseOption = None, as_json: JsonOption = False
) -> None:
    """Let workers fetch the queue's jobs again."""

    async def work(system: JobSystem) -> QueueInfo:
        await system.resume_queue(queue)
        return await _queue(system, queue)

    _report(on_database(database, work), as_json)


@queues_cli.command("clear")
def clear(
    queue: QueueArgument,
    yes: YesOption = False,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete the queue's waiting jobs (pending, retrying, scheduled); asks first."""
    confirm(f"Delete every waiting job of queue {queue}?", yes)
    cleared = on_database(database, lambda system: system.clear_queue(queue))
    if as_json:
        print_json({"name": queue, "cleared": cleared})
    else:
        typer.echo(f"Queue {queue}: {cleared} waiting jobs deleted")
