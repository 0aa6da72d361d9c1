"""The worker's loop: waiting for work, claiming batches sized to the free slots
plus a bounded claim-ahead buffer, and stopping within a grace period.

One turn costs at most two round trips' worth of store calls whatever the number
of jobs: one claim sized to the free slots and the room left in the buffer (the
jobs for free slots claimed straight into running, the others reserved), sent
together with the starts of the buffered jobs started since the last turn
(``start_and_fetch_jobs``; ``fetch_jobs`` when there are none), and overlapped
with one flush of the outcomes finished since the last turn (see
``Completer.flush_while``). Between turns the loop waits on its
``Doorbell``: a job finished, new work may be due, or a stop was asked.

The buffer (``prefetch`` jobs at most, fewer for long jobs: ``buffer_target``;
docs/architecture.md "Claim-ahead") keeps the slots busy while a claim is in
flight: a slot that frees takes the next buffered job at once, before the store
has been told. Its start is written at the next turn, and its outcome is held
back until then (an outcome of a job the store still has reserved would be
refused). A buffered job is ``reserved`` in the store, so a worker that dies
leaves it to the rescue as not started: pending again, no attempt counted. A
clean stop hands it back; a cancel notice drops it; a start the store refuses
(cancelled in bulk, handed back) stops it.

Who owns what: the ``Doorbell`` knows whether new work may be due, the
``StopRequest`` whether to stop and how long to wait for running jobs, the
executor what is running, the completer what is still to be written.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Sequence
from datetime import datetime

from uno.jobs.events import EventKind, JobEvent
from uno.jobs.jobs import Job, Status
from uno.jobs.system import JobSystem
from uno.jobs.worker.completer import Completer
from uno.jobs.worker.doorbell import Doorbell
from uno.jobs.worker.executor import Attempt, Executor, Outcome
from uno.jobs.worker.progress import Progress
from uno.jobs.worker.signals import StopRequest
from uno.jobs.workers import TaskRef

log = logging.getLogger("uno.jobs.worker")

#: Longest pause after a store error, which doubles from 0.1s up to this.
MAX_BACKOFF = 5.0

#: Seconds within which a buffered job should start: the buffer holds no more jobs
#: than the slots finish in that time, by the recent mean duration of a job, so
#: long jobs are not claimed ahead (one worker would hold work others could run).
PREFETCH_HORIZON = 0.05
#: Weight of the latest duration in that mean.
_MEAN_WEIGHT = 0.1


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
        *,
        tasks: Sequence[TaskRef] | None = None,
        prefetch: int = 0,
    ) -> None:
        self.system = system
        self.worker_id = worker_id
        self.queues = queues
        self.executor = executor
        self.completer = completer
        self.doorbell = doorbell
        self.stop = stop
        self.progress = progress
        #: The tasks this worker runs: it claims only their jobs (None: any job).
        self.tasks = tasks
        self.concurrency = executor.concurrency
        #: Longest wait for new work before looking again (jobs may become due).
        self.idle_timeout = 0.5
        #: Jobs claimed ahead of the free slots, at most (0: claim only for free slots).
        self.prefetch = prefetch
        #: The jobs claimed ahead (reserved in the store), in claim order.
        self.buffer: deque[Job] = deque()
        #: Buffered jobs started whose start is not written yet.
        self._starting: list[str] = []
        #: Started jobs whose start the store has not confirmed (written or not).
        self._unconfirmed: set[str] = set()
        #: Outcomes of unconfirmed jobs, passed to the completer once confirmed.
        self._held: list[tuple[Attempt, Outcome, float]] = []
        self._filling = False
        #: Seconds a job of this worker has recently taken, on average (None: none yet).
        self.mean_duration: float | None = None

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
        target = self.buffer_target()
        room = max(0, target - len(self.buffer))
        flush = self.completer.due(running)
        doorbell = self.doorbell
        # The buffer is refilled once half empty: claims stay batches, not single jobs.
        refill = free > 0 or room * 2 > target or (room > 0 and bool(self._starting))
        if not refill or not (doorbell.work or until_empty):
            await self._bookkeep(flush)
            return 0
        doorbell.work = False
        wanted = free + room
        if flush:
            claimed, retries = await self.completer.flush_while(self._claim(wanted, free))
        else:
            claimed, retries = await self._claim(wanted, free), False
        if claimed == wanted or retries:
            # A short batch: nothing more is due until the store says otherwise,
            # unless the outcomes written alongside made retries due.
            doorbell.work = True
        return None if retries and not claimed else claimed

    async def _bookkeep(self, flush: bool) -> None:
        """A turn without a claim: the starts and, when due, the outcomes to write."""
        if flush:
            _, retries = await self.completer.flush_while(self._write_starts())
            if retries:
                self.doorbell.work = True
        elif self._starting:
            await self._write_starts()

    async def _wait(self, claimed: int, until_empty: bool) -> bool:
        """Wait for whatever should happen next; False when a burst is over."""
        running = len(self.executor.running)
        flush_wait = 0.0 if self._starting else self.completer.wait_time()
        if running:
            if running < self.concurrency and not until_empty:
                await self.doorbell.wait_for_work(self._store_wait(), flush_wait)
            else:
                await self.doorbell.wait(flush_wait)
        elif self.completer.pending or self._starting:
            pass  # nothing runs: write them at once
        elif not claimed:
            if until_empty:
                return False
            await self.doorbell.wait_for_work(self._store_wait(), None)
        return True

    def _store_wait(self) -> Awaitable[None]:
        return self.system.store.wait_for_jobs(self.idle_timeout)

    # -- claiming -----------------------------------------------------------------------
    async def _claim(self, limit: int, running: int | None = None) -> int:
        """Claim up to ``limit`` jobs, the first ``running`` (default: all) straight into
        running, and launch those; the others (reserved) join the buffer."""
        system = self.system
        store = system.store
        if running is None:
            running = limit
        now = system.clock.now()
        if self._starting:
            jobs = await self._start_and_fetch(limit, running, now)
        else:
            jobs = await store.fetch_jobs(
                self.worker_id, self.queues, limit, now, running=running, tasks=self.tasks
            )
        if not jobs:
            return 0
        if self.stop.asked:
            await store.release_jobs(self.worker_id, [job.id for job in jobs])
            return 0
        started = jobs[:running]
        launch = self.executor.launch
        for job in started:
            launch(job)
        self.progress.launched(len(started))
        if system.events.active:
            self._publish_started(started, now)
        if len(jobs) > running:
            self.buffer.extend(jobs[running:])
            self.start_buffered()  # slots may have freed while the claim was in flight
        return len(jobs)

    # -- the claim-ahead buffer -----------------------------------------------------------
    def start_buffered(self) -> None:
        """Start buffered jobs in the free slots, at once (their start is written at the
        next turn). Called when a slot frees; does nothing once a stop is asked."""
        if self._filling or not self.buffer or self.stop.asked:
            return
        self._filling = True  # a launch can end at once (task not found) and call back
        started: list[Job] = []
        try:
            executor, buffer = self.executor, self.buffer
            while buffer and len(executor.running) < self.concurrency:
                job = buffer.popleft()
                self._starting.append(job.id)
                self._unconfirmed.add(job.id)
                started.append(job)
                executor.launch(job)
        finally:
            self._filling = False
        self.progress.launched(len(started))
        if started and self.system.events.active:
            self._publish_started(started, self.system.clock.now())
        self.doorbell.ring()

    def buffer_target(self) -> int:
        """How many jobs to hold claimed ahead: ``prefetch``, or fewer when jobs are
        long (``PREFETCH_HORIZON``); none before a job has been seen to finish."""
        mean = self.mean_duration
        if mean is None or not self.prefetch:
            return 0
        if mean * self.prefetch <= PREFETCH_HORIZON * self.concurrency:
            return self.prefetch
        return int(PREFETCH_HORIZON * self.concurrency / mean)

    def on_finished(self, attempt: Attempt, outcome: Outcome, duration: float) -> None:
        """The executor's ``on_finished``: the outcome goes to the completer, or waits
        for the job's start to be confirmed; the freed slot takes a buffered job."""
        mean = self.mean_duration
        self.mean_duration = duration if mean is None else mean + (duration - mean) * _MEAN_WEIGHT
        if attempt.job.id in self._unconfirmed:
            self._held.append((attempt, outcome, duration))
            self.doorbell.ring()
        else:
            self.completer.add(attempt, outcome, duration)
        self.start_buffered()

    async def _start_and_fetch(self, limit: int, running: int, now: datetime) -> list[Job]:
        """The starts to write and the claim, in one round trip."""
        ids, self._starting = self._starting, []
        try:
            started, jobs = await self.system.store.start_and_fetch_jobs(
                self.worker_id, ids, self.queues, limit, now, running=running, tasks=self.tasks
            )
        except BaseException:
            self._starting[:0] = ids
            raise
        self._confirm(ids, started)
        return jobs

    async def _write_starts(self) -> int:
        """Write the starts of the buffered jobs started since the last turn."""
        ids = self._starting
        if not ids:
            return 0
        self._starting = []
        now = self.system.clock.now()
        try:
            started = await self.system.store.start_jobs(ids, self.worker_id, now)
        except BaseException:
            self._starting[:0] = ids
            raise
        self._confirm(ids, started)
        return len(started)

    def _confirm(self, ids: list[str], started: list[str]) -> None:
        """The store has answered for the starts of ``ids``: pass on the outcomes
        held for them. A job the store did not start (cancelled or handed back
        meanwhile) is no longer this worker's: it is stopped, and its outcome, if
        any, dropped."""
        self._unconfirmed.difference_update(ids)
        lost = set(ids).difference(started)
        held, self._held = self._held, []
        for item in held:
            job_id = item[0].job.id
            if job_id in self._unconfirmed:
                self._held.append(item)
            elif job_id not in lost:
                self.completer.add(*item)
        for job_id in lost:
            log.warning(
                "worker %s: job %s was cancelled or handed back before its start was "
                "written; stopping it",
                self.worker_id,
                job_id,
            )
            self.executor.cancel(job_id)

    def drop_buffered(self, job_id: str) -> bool:
        """A buffered job was cancelled: forget it. False when it is not buffered."""
        for job in self.buffer:
            if job.id == job_id:
                self.buffer.remove(job)
                return True
        return False

    def buffered_ids(self) -> list[str]:
        return [job.id for job in self.buffer]

    def held_ids(self) -> list[str]:
        """The jobs this worker holds but neither runs nor has an outcome of in the
        completer: buffered, or finished with their outcome held back."""
        return [*self.buffered_ids(), *(item[0].job.id for item in self._held)]

    async def settle_safely(self) -> None:
        """Write the starts and the outcomes still buffered, logging instead of raising
        (the worker is on its way out)."""
        try:
            await self._write_starts()
        except Exception:
            count = len(self._starting)
            log.exception("worker %s could not write %d start(s)", self.worker_id, count)
        await self.completer.flush_safely()

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
        await self._hand_back_buffer()
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
            await self._write_starts()
            if self.completer.pending:
                await self.completer.flush()
            await self.doorbell.wait(min(remaining, 0.05))
        if self.executor.running:
            await self._hand_back()

    async def _hand_back_buffer(self) -> None:
        """Stopping: the buffered jobs never started go back (no attempt counted)."""
        if not self.buffer:
            return
        ids = [job.id for job in self.buffer]
        self.buffer.clear()
        await self.system.store.release_jobs(self.worker_id, ids)
        log.info("worker %s handed back %d buffered job(s)", self.worker_id, len(ids))

    async def _hand_back(self) -> None:
        ids = self.executor.withdraw()
        await self._write_starts()
        await self.completer.flush()
        await self.system.store.release_jobs(self.worker_id, ids)
        log.warning("worker %s handed back %d unfinished job(s)", self.worker_id, len(ids))

    async def _release_strays(self) -> None:
        """Hand back jobs held for this worker that it is not running.

        A claim whose answer was lost in a broken connection leaves them held by
        a worker that is alive and beating, so no rescue would ever take them back.
        """
        keep = [*self.executor.running, *self.completer.pending_ids(), *self.held_ids()]
        released = await self.system.store.release_strays(self.worker_id, keep)
        if released:
            log.warning("worker %s handed back %d stray job(s)", self.worker_id, len(released))
