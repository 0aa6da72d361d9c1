"""The worker's loop: waiting for work, claiming batches sized to the free slots,
and stopping within a grace period.

One turn costs at most two store calls whatever the number of jobs: one
``fetch_jobs`` sized to the free slots, which claims the batch straight into
running, overlapped with one flush of the outcomes finished since the last turn
(see ``Completer.flush_while``). Between turns the loop waits on its
``Doorbell``: a job finished, new work may be due, or a stop was asked.

Who owns what: the ``Doorbell`` knows whether new work may be due, the
``StopRequest`` whether to stop and how long to wait for running jobs, the
executor what is running, the completer what is still to be written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime

from uno.jobs.events import EventKind, JobEvent
from uno.jobs.jobs import Job, Status
from uno.jobs.system import JobSystem
from uno.jobs.worker.completer import Completer
from uno.jobs.worker.executor import Executor
from uno.jobs.worker.progress import Progress

log = logging.getLogger("uno.jobs.worker")

#: Longest pause after a store error, which doubles from 0.1s up to this.
MAX_BACKOFF = 5.0


class Doorbell:
    """Ends the loop's waits: rung when a job finishes or a stop is asked, and
    rung ``for_work`` when jobs may have become due (``work`` stays set until
    the next claim)."""

    __slots__ = ("_wake", "work")

    def __init__(self) -> None:
        self._wake: asyncio.Future[None] | None = None
        #: Whether a claim may find work: set by a full batch, a store wake-up, a
        #: retry written or a rescue; cleared by each claim.
        self.work = True

    def ring(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def ring_for_work(self) -> None:
        self.work = True
        self.ring()

    async def wait(self, timeout: float | None) -> None:
        """Until rung, or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        timer = loop.call_later(timeout, self.ring) if timeout is not None else None
        try:
            await wake
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()

    async def wait_for_work(self, store_wait: Awaitable[None], timeout: float | None) -> None:
        """Until rung, the store says work may be due, or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        waiting = asyncio.ensure_future(store_wait)
        try:
            done, _ = await asyncio.wait(
                {wake, waiting}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if waiting in done:
                self.work = True
        finally:
            self._wake = None
            if not waiting.done():
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)


class StopRequest:
    """Whether a stop was asked, and the grace period asked with it.

    Written from any thread or a signal handler: two plain attributes, read by
    the loop at each turn.
    """

    __slots__ = ("asked", "grace")

    def __init__(self) -> None:
        self.asked = False
        #: None: the worker's ``shutdown_grace``; asked twice: 0 (hand back at once).
        self.grace: float | None = None

    def ask(self, grace: float | None) -> None:
        if self.asked:
            self.grace = 0.0
        else:
            self.asked = True
            if grace is not None:
                self.grace = grace


class Producer:
    """Feeds the executor with claimed jobs until stopped (or, in burst mode, until
    no due job is left)."""

    def __init__(
        self,
        system: JobSystem,
        worker_id: str,
        queues: Sequence[str] | None,
        executor: Executor,
        completer: Completer,
        doorbell: Doorbell,
        stop: StopRequest,
        progress: Progress,
    ) -> None:
        self.system = system
        self.worker_id = worker_id
        self.queues = queues
        self.executor = executor
        self.completer = completer
        self.doorbell = doorbell
        self.stop = stop
        self.progress = progress
        self.concurrency = executor.concurrency
        #: Longest wait for new work before looking again (jobs may become due).
        self.idle_timeout = 0.5

    # -- running --------------------------------------------------------------------
    async def run(self, until_empty: bool) -> None:
        """The loop, resilient: a failing store (a restart, a lock) pauses it instead of
        ending it; in burst mode the error is raised, since the caller waits for the end."""
        backoff = 0.1
        after_error = False
        while True:
            try:
                if after_error:
                    await self._release_strays()
                await self._loop(until_empty)
                return
            except Exception:
                if until_empty:
                    raise
                log.exception("worker %s: store error, retrying in %gs", self.worker_id, backoff)
                after_error = True
                self.doorbell.work = True  # the failed turn may have left due work unclaimed
                await self.doorbell.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def run_batch(self) -> int:
        """Claim one batch, run every job of it to the end, write the outcomes."""
        count = await self._claim(self.concurrency)
        while self.executor.running:
            await self.doorbell.wait(None)
        await self.completer.flush()
        return count

    async def _loop(self, until_empty: bool) -> None:
        while not self.stop.asked:
            claimed = await self._store_round(until_empty)
            if claimed is None:
                continue  # retries were written: claim them before deciding to wait
            if self.stop.asked or not await self._wait(claimed, until_empty):
                return

    async def _store_round(self, until_empty: bool) -> int | None:
        """At most one claim and one flush, overlapped; the number of jobs claimed.

        None when nothing was claimed but the flush wrote retries, which may be
        due at once.
        """
        running = len(self.executor.running)
        free = self.concurrency - running
        flush = self.completer.due(running)
        doorbell = self.doorbell
        if free <= 0 or not (doorbell.work or until_empty):
            if flush and await self.completer.flush():
                doorbell.work = True
            return 0
        doorbell.work = False
        if flush:
            claimed, retries = await self.completer.flush_while(self._claim(free))
        else:
            claimed, retries = await self._claim(free), False
        if claimed == free or retries:
            # A short batch: nothing more is due until the store says otherwise,
            # unless the outcomes written alongside made retries due.
            doorbell.work = True
        return None if retries and not claimed else claimed

    async def _wait(self, claimed: int, until_empty: bool) -> bool:
        """Wait for whatever should happen next; False when a burst is over."""
        running = len(self.executor.running)
        flush_wait = self.completer.wait_time()
        if running:
            if running < self.concurrency and not until_empty:
                await self.doorbell.wait_for_work(self._store_wait(), flush_wait)
            else:
                await self.doorbell.wait(flush_wait)
        elif self.completer.pending:
            pass  # nothing runs: write them at once
        elif not claimed:
            if until_empty:
                return False
            await self.doorbell.wait_for_work(self._store_wait(), None)
        return True

    def _store_wait(self) -> Awaitable[None]:
        return self.system.store.wait_for_jobs(self.idle_timeout)

    # -- claiming -----------------------------------------------------------------------
    async def _claim(self, limit: int) -> int:
        """Claim up to ``limit`` jobs straight into running, and launch them."""
        system = self.system
        store = system.store
        now = system.clock.now()
        jobs = await store.fetch_jobs(self.worker_id, self.queues, limit, now, running=limit)
        if not jobs:
            return 0
        if self.stop.asked:
            await store.release_jobs(self.worker_id, [job.id for job in jobs])
            return 0
        launch = self.executor.launch
        for job in jobs:
            launch(job)
        self.progress.launched(len(jobs))
        if system.events.active:
            self._publish_started(jobs, now)
        return len(jobs)

    def _publish_started(self, jobs: list[Job], now: datetime) -> None:
        events = self.system.events
        for job in jobs:
            due = max(job.created_at or now, job.scheduled_at or now)
            events.publish(
                JobEvent(
                    EventKind.STARTED,
                    job.id,
                    job.task_name,
                    job.queue_name,
                    Status.RUNNING,
                    wait_time=(now - due).total_seconds(),
                )
            )

    # -- stopping and handing back -------------------------------------------------------
    async def finish_running(self, shutdown_grace: float) -> None:
        """Stopping: let running jobs end within the grace period, hand back the rest."""
        loop = asyncio.get_running_loop()
        stop = self.stop
        grace = shutdown_grace if stop.grace is None else stop.grace
        deadline = loop.time() + grace
        if self.executor.running:
            log.info(
                "worker %s stopping: waiting up to %gs for %d running job(s)",
                self.worker_id,
                grace,
                len(self.executor.running),
            )
        while self.executor.running:
            if stop.grace is not None:  # asked again: the grace period may have shrunk
                deadline = min(deadline, loop.time() + stop.grace)
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if self.completer.pending:
                await self.completer.flush()
            await self.doorbell.wait(min(remaining, 0.05))
        if self.executor.running:
            await self._hand_back()

    async def _hand_back(self) -> None:
        ids = self.executor.withdraw()
        await self.completer.flush()
        await self.system.store.release_jobs(self.worker_id, ids)
        log.warning("worker %s handed back %d unfinished job(s)", self.worker_id, len(ids))

    async def _release_strays(self) -> None:
        """Hand back jobs held for this worker that it is not running.

        A claim whose answer was lost in a broken connection leaves them held by
        a worker that is alive and beating, so no rescue would ever take them back.
        """
        keep = [*self.executor.running, *self.completer.pending_ids()]
        released = await self.system.store.release_strays(self.worker_id, keep)
        if released:
            log.warning("worker %s handed back %d stray job(s)", self.worker_id, len(released))
