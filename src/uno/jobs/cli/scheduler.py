"""`uno-jobs scheduler`: a process that turns due schedules into jobs.

Run as many as you like against one database; each occurrence still becomes
exactly one job. SIGTERM or SIGINT stops it after the current tick (exit 0).
A store it cannot reach at start ends it (exit 1); one lost later is retried.
"""

from __future__ import annotations

import asyncio
import signal

import typer

from uno.jobs.cli import cli
from uno.jobs.cli.options import (
    AppOption,
    DatabaseOption,
    LogLevelOption,
    load_system,
    run_loop,
)
from uno.jobs.scheduler import Scheduler
from uno.jobs.system import JobSystem


@cli.command()
def scheduler(
    app: AppOption = None,
    database: DatabaseOption = None,
    tick_interval: float = typer.Option(
        1.0, "--tick-interval", min=0.05, help="Longest pause between two looks at the store."
    ),
    log_level: LogLevelOption = "info",
) -> None:
    """Fire due schedules (cron and intervals) as jobs until stopped."""
    system = load_system(app, log_level, database_url=database)
    run_loop(run_scheduler(system, tick_interval=tick_interval))


async def run_scheduler(system: JobSystem, *, tick_interval: float = 1.0) -> None:
    """Run a Scheduler until SIGTERM or SIGINT, then close the system."""
    runner = Scheduler(system, tick_interval=tick_interval)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.request_stop)
    try:
        await system.open()  # an unreachable store ends the command here, in one line
        await runner.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await system.close()
