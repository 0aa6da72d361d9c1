"""The embedded runtime of an API process: the store open, a worker and a scheduler.

Both loops run as tasks in the server's own event loop, so run-sync wakes as
soon as its job finishes, with no second process to start. ``serve_app`` runs
the server so that a stop signal first ends every run-sync wait: the server
waits for open requests before its lifespan ends, and a waiting run-sync would
otherwise hold the shutdown (and the worker and scheduler) for its whole wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any

import uvicorn

from uno.jobs.system import JobSystem

log = logging.getLogger("uno.jobs.api")


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped with an error", task.get_name(), exc_info=task.exception())


@contextlib.asynccontextmanager
async def embedded_runtime(
    system: JobSystem,
    *,
    worker: bool = True,
    scheduler: bool = True,
    concurrency: int | None = None,
) -> AsyncIterator[JobSystem]:
    """Open ``system``, run a worker and a scheduler beside it, and stop all on exit."""
    await system.open()
    tasks: list[asyncio.Task[None]] = []
    the_worker = the_scheduler = None
    if worker:
        from uno.jobs.worker import Worker

        the_worker = Worker(system, concurrency=concurrency)
        tasks.append(asyncio.create_task(the_worker.run(), name="uno-jobs embedded worker"))
    if scheduler:
        from uno.jobs.scheduler import Scheduler

        the_scheduler = Scheduler(system)
        tasks.append(asyncio.create_task(the_scheduler.run(), name="uno-jobs embedded scheduler"))
    for task in tasks:
        task.add_done_callback(_log_crash)
    try:
        yield system
    finally:
        system.stop_waiting()
        grace = system.settings.shutdown_grace
        if the_scheduler is not None:
            the_scheduler.request_stop()
        if the_worker is not None:
            the_worker.request_stop(grace)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace + 5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await system.close()


class JobsServer(uvicorn.Server):
    """A uvicorn server that ends the system's waits as soon as it is told to stop."""

    def __init__(self, config: uvicorn.Config, system: JobSystem) -> None:
        super().__init__(config)
        self.system = system

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.system.stop_waiting()
        super().handle_exit(sig, frame)


def serve_app(system: JobSystem, app: Any, **config: Any) -> None:
    """``uvicorn.run(app, **config)`` with a ``JobsServer``."""
    server = JobsServer(uvicorn.Config(app, **config), system)
    server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run exits
