"""Cancellations of the jobs a worker runs, as the store announces them.

A cancel of a running job reaches its worker on the wake-up channel it already
listens on (``Store.watch_cancels``): the executor then stops that job as its
kind allows. Notices can be lost (a broken LISTEN connection, a full datagram
buffer) or arrive before the claim's answer; then the worker asks the store which
of the jobs it runs it still holds, and stops the others. A job waiting in the
claim-ahead buffer (reserved, not started) is dropped from it instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from uno.jobs.system import JobSystem
from uno.jobs.worker.executor import Executor

log = logging.getLogger("uno.jobs.worker")


class CancelNotices:
    """Turns the store's cancel notices into stops of the executor's jobs, and into
    drops of the jobs waiting in the producer's claim-ahead buffer (``unbuffer``:
    True when the job was buffered)."""

    def __init__(
        self,
        system: JobSystem,
        worker_id: str,
        executor: Executor,
        unbuffer: Callable[[str], bool] | None = None,
        buffered: Callable[[], list[str]] | None = None,
    ) -> None:
        self._system = system
        self._worker_id = worker_id
        self._executor = executor
        self._unbuffer = unbuffer
        self._buffered = buffered
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unwatch: Callable[[], None] | None = None

    async def watch(self) -> None:
        """Start listening (on the running loop) until ``close``."""
        self._loop = asyncio.get_running_loop()
        self._unwatch = await self._system.store.watch_cancels(self.on_notice)

    def close(self) -> None:
        unwatch, self._unwatch = self._unwatch, None
        if unwatch is not None:
            unwatch()

    def on_notice(self, job_id: str | None) -> None:
        """A running job was cancelled (None: notices may have been lost)."""
        if job_id is None:
            if (self._executor.running or self._held_ahead()) and self._loop is not None:
                self._loop.create_task(self.check_held())
            return
        if self._unbuffer is not None and self._unbuffer(job_id):
            log.info("worker %s: buffered job %s cancelled; dropped", self._worker_id, job_id)
            return
        if self._executor.cancel(job_id):
            log.info(
                "worker %s: job %s cancelled while running; stopping it", self._worker_id, job_id
            )

    def recheck(self, job_id: str) -> None:
        """A job launched after a cancel notice named it: ask the store whether the
        cancel was of this attempt."""
        if self._loop is not None:
            self._loop.create_task(self.check_held([job_id]))

    async def check_held(self, job_ids: list[str] | None = None) -> None:
        """Stop the jobs this worker runs (or ``job_ids``) that it no longer holds."""
        try:
            ids = [*self._executor.running, *self._held_ahead()] if job_ids is None else job_ids
            jobs = await self._system.store.get_jobs(ids)
        except Exception as exc:
            log.warning("worker %s could not check its jobs: %s", self._worker_id, exc)
            return
        for job in jobs:
            if job.worker_id != self._worker_id:
                self.on_notice(job.id)

    def _held_ahead(self) -> list[str]:
        return self._buffered() if self._buffered is not None else []
