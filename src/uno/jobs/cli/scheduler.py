"""`uno-jobs scheduler`: a process that turns due schedules into jobs.

Run as many as you like against one database; each occurrence still becomes
exactly one job. SIGTERM or SIGINT stops it after the current tick (exit 0).
"""

from __future__ import annotations

import asyncio
import logging
import signal

import typer

from uno.jobs.cli import cli
from uno.jobs.errors import JobsError
from uno.jobs.loading import load_app
from uno.jobs.scheduler import Scheduler
from uno.jobs.system import JobSystem


@cli.command()
def scheduler(
    app: str | None = typer.Option(
        None, "--app", help="Module holding your tasks: pkg.tasks or pkg.tasks:jobs."
    ),
    database: str | None = typer.Option(
        None, "--database", help="Database URL (default: UNO_JOBS_DATABASE_URL or SQLite)."
    ),
    tick_interval: float = typer.Option(
        1.0, "--tick-interval", min=0.05, help="Longest pause between two looks at the store."
    ),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
) -> None:
    """Fire due schedules (cron and intervals) as jobs until stopped."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        system = load_app(app)
    except JobsError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    if database:
        system.settings = system.settings.with_(database_url=database)
    asyncio.run(run_scheduler(system, tick_interval=tick_interval))


async def run_scheduler(system: JobSystem, *, tick_interval: float = 1.0) -> None:
    """Run a Scheduler until SIGTERM or SIGINT, then close the system."""
    runner = Scheduler(system, tick_interval=tick_interval)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.request_stop)
    try:
        await runner.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await system.close()
