"""`uno-jobs worker`: a process that runs jobs until stopped.

Run as many as you like, on one machine (SQLite) or many (PostgreSQL). SIGTERM
or SIGINT stops it politely: nothing more is fetched, running jobs get the grace
period (``UNO_JOBS_SHUTDOWN_GRACE``) to finish, the rest is handed back, exit 0.
"""

from __future__ import annotations

import logging

import typer

from uno.jobs.cli import cli
from uno.jobs.cli.options import (
    AppOption,
    DatabaseOption,
    LogFormatOption,
    LogLevelOption,
    load_system,
    run_loop,
)
from uno.jobs.settings import masked_url
from uno.jobs.system import JobSystem
from uno.jobs.worker import Worker

log = logging.getLogger("uno.jobs.worker")


@cli.command()
def worker(
    app: AppOption = None,
    database: DatabaseOption = None,
    queues: str | None = typer.Option(
        None, "--queues", help="Comma-separated queues to consume (default: every queue)."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Jobs run at once (default: UNO_JOBS_CONCURRENCY)."
    ),
    durable_acks: bool | None = typer.Option(
        None,
        "--durable-acks/--async-acks",
        help="Durable: claims, outcomes and heartbeats wait for the database's disk flush. "
        "Async: they do not, and a crash of the database can undo the last ones, which "
        "then run again (default: UNO_JOBS_WORKER_DURABLE_ACKS, else the store's: durable "
        "on PostgreSQL, async on SQLite).",
    ),
    log_level: LogLevelOption = "info",
    log_format: LogFormatOption = "text",
) -> None:
    """Run jobs from the queues until stopped; one INFO line per job outcome."""
    system = load_system(
        app,
        log_level,
        log_format,
        database_url=database,
        concurrency=concurrency,
        worker_durable_acks=durable_acks,
    )
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    run_loop(run_worker(system, queues=names))


async def run_worker(system: JobSystem, *, queues: list[str] | None = None) -> None:
    """Run a Worker until SIGTERM or SIGINT, then close the system."""
    runner = Worker(system, queues=queues)
    runner.install_signal_handlers()
    try:
        await system.open()
        log.info(
            "worker %s started: queues=%s concurrency=%d acks=%s database=%s",
            runner.worker_id,
            ",".join(runner.queues) if runner.queues else "*",
            runner.concurrency,
            # the store's own value: an app may have built its store itself
            "durable" if getattr(system.store, "durable_acks", False) else "async",
            masked_url(system.store.url),
        )
        await runner.run()
        log.info("worker %s stopped (%d jobs run)", runner.worker_id, runner.processed)
    finally:
        await system.close()
