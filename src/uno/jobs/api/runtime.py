"""The embedded runtime of an API process: the store open, a worker and a scheduler.

Both loops run as tasks in the server's own event loop, so run-sync wakes as
soon as its job finishes, with no second process to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

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
