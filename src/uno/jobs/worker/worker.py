"""The Worker: claims jobs in batches, runs them, and reports back in batches.

Three parts, each with one job (see their modules): the ``Producer`` waits for
work, claims batches sized to the free slots and its claim-ahead buffer, and
stops within a grace period; the ``Executor`` runs each job on the event loop, a thread or a child
process and judges how it ended; the ``Completer`` writes the outcomes, batched,
overlapping the next claim. This class builds them, proves the worker alive
(``Heartbeat``), and is what callers drive.

It registers the tasks it runs (every version its registry holds), so that it
claims only their jobs, and stops the jobs it runs when they are cancelled
(``CancelNotices``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Sequence

from uno.jobs.limits import check_count
from uno.jobs.store import RescuedJob
from uno.jobs.system import JobSystem
from uno.jobs.worker import signals
from uno.jobs.worker.cancels import CancelNotices
from uno.jobs.worker.completer import Completer, FlushPolicy
from uno.jobs.worker.doorbell import Doorbell
from uno.jobs.worker.executor import Attempt, Executor
from uno.jobs.worker.heartbeat import Heartbeat
from uno.jobs.worker.outcome_log import log_cancelled
from uno.jobs.worker.producer import Producer
from uno.jobs.worker.progress import Progress
from uno.jobs.workers import WorkerCounts, default_worker_id, registered_tasks

log = logging.getLogger("uno.jobs.worker")


class Worker:
    """Runs jobs of ``queues`` (every queue when None), ``concurrency`` at a time.

    Unset options come from ``system.settings``. Drive it with ``run()`` (the
    loop, until stopped or, with ``until_empty``, until no due job is left) or
    step it with ``run_once()``. ``flush`` chooses when outcomes are written
    (default: batched, see ``FlushPolicy``). ``prefetch`` jobs at most are claimed
    ahead of the free slots, so that a slot that frees starts one at once (0: claim
    only for free slots; see docs/architecture.md "Claim-ahead").
    """

    #: Longest time a finished job waits before its result is written (batched).
    flush_interval = 0.005

    # long: the one place the producer, executor and completer are wired together;
    # most of its lines are the keyword arguments and their defaults.
    def __init__(
        self,
        system: JobSystem,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        worker_id: str | None = None,
        heartbeat_interval: float | None = None,
        rescue_after: float | None = None,
        shutdown_grace: float | None = None,
        flush: FlushPolicy | None = None,
        cancel_grace: float | None = None,
        prefetch: int | None = None,
    ) -> None:
        """``cancel_grace``: seconds a thread-pool task cancelled while running has to
        see ``JobContext.cancelled`` and return before it is abandoned (default: the
        shutdown grace, at most 5 s)."""
        settings = system.settings
        self.system = system
        self.queues: list[str] | None = list(queues) if queues else None
        self.concurrency = int(concurrency if concurrency is not None else settings.concurrency)
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        self.prefetch = check_count(
            int(prefetch if prefetch is not None else settings.worker_prefetch),
            "prefetch", settings.limits.max_worker_prefetch,
        )  # fmt: skip
        self.worker_id = worker_id or default_worker_id()
        self.heartbeat_interval = _or(heartbeat_interval, settings.heartbeat_interval)
        self.rescue_after = _or(rescue_after, settings.rescue_after)
        self.shutdown_grace = _or(shutdown_grace, settings.shutdown_grace)
        self.limits = settings.limits
        self.heartbeat = Heartbeat(
            system.store, system.clock, self.worker_id, self.heartbeat_interval,
            self.rescue_after, on_rescued=self._on_rescued, counts=self.counts,
        )  # fmt: skip
        #: What this worker has done; awaitable (see ``Progress``).
        self.progress = Progress()
        self._doorbell = Doorbell()
        self._stop = signals.StopRequest()
        self._completer = Completer(
            system.store,
            self.worker_id,
            system.clock,
            self.limits,
            system.events,
            flush or FlushPolicy.batched(self.concurrency, self.flush_interval),
            self._doorbell.ring,
            self.progress,
        )
        self._executor = Executor(
            system.registry,
            system.clock,
            self.limits,
            self.concurrency,
            self._completer.add,
            self.worker_id,
            write_progress=self._write_progress,
            on_cancelled=self._on_cancelled,
            on_recheck=lambda job_id: self._cancels.recheck(job_id),
            cancel_grace=_or(cancel_grace, min(self.shutdown_grace, 5.0)),
        )
        #: The tasks (name and version) this worker runs: the only jobs it claims.
        self.tasks = registered_tasks(system.registry)
        self._producer = Producer(
            system, self.worker_id, self.queues, self._executor, self._completer,
            self._doorbell, self._stop, self.progress, tasks=self.tasks, prefetch=self.prefetch,
        )  # fmt: skip
        # An outcome waits for its job's start when the job came from the buffer.
        self._executor.on_finished = self._producer.on_finished
        self._cancels = CancelNotices(
            system, self.worker_id, self._executor,
            self._producer.drop_buffered, self._producer.buffered_ids,
        )  # fmt: skip
        self._loop: asyncio.AbstractEventLoop | None = None
        self._registered = False
        #: The progress counts when this worker last registered (its stored counts
        #: start at 0 then).
        self._counted_from = WorkerCounts()
        self._stopped: asyncio.Future[None] | None = None

    @property
    def processed(self) -> int:
        """Attempts whose outcome was written (or dropped, for a job rescued meanwhile)."""
        return self.progress.written

    def counts(self) -> WorkerCounts:
        """Outcomes written since this worker registered, and of which failures: what
        its heartbeat and its stop write to its row (``GET /api/v1/workers``)."""
        base, progress = self._counted_from, self.progress
        return WorkerCounts(progress.processed - base.processed, progress.failed - base.failed)

    @property
    def idle_timeout(self) -> float:
        """Longest wait for new work before looking again (jobs may become due)."""
        return self._producer.idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds: float) -> None:
        self._producer.idle_timeout = seconds

    # -- public ---------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim one batch, run every job of it to the end, write the outcomes.

        Returns the number of jobs run. Tests step the worker with this.
        """
        await self._begin()
        return await self._producer.run_batch()

    async def run(self, *, until_empty: bool = False) -> None:
        """Run jobs until stopped; with ``until_empty``, until none is due or running."""
        await self._begin()
        self._stopped = asyncio.get_running_loop().create_future()
        beating = asyncio.create_task(self.heartbeat.run(), name=f"heartbeat:{self.worker_id}")
        try:
            await self.heartbeat.rescue()
            await self._producer.run(until_empty)
            await self._producer.finish_running(self.shutdown_grace)
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            await self._producer.settle_safely()
            await self.close()
            if not self._stopped.done():
                self._stopped.set_result(None)

    def request_stop(self, grace: float | None = None) -> None:
        """Claim nothing more; let running jobs finish within the grace period.

        Safe from any thread and from signal handlers. Asked twice, the worker
        stops at once and hands its running jobs back.
        """
        self._stop.ask(grace)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._doorbell.ring)

    async def stop(self, grace: float | None = None) -> None:
        """Stop politely and wait until ``run()`` has returned."""
        self.request_stop(grace)
        if self._stopped is not None:
            await asyncio.shield(self._stopped)

    def install_signal_handlers(self) -> None:
        """SIGTERM / SIGINT: a graceful stop; a second signal: stop now."""
        signals.install(self.request_stop)

    async def close(self) -> None:
        """Leave the store's list of workers and shut the pools down."""
        self._cancels.close()
        self._executor.close()
        if self._registered:
            self._registered = False
            try:
                await self.system.store.unregister_worker(self.worker_id, counts=self.counts())
            except Exception:
                log.exception("could not unregister worker %s", self.worker_id)

    async def __aenter__(self) -> Worker:
        await self._begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- inside -----------------------------------------------------------------
    async def _begin(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.system.open()
        if not self._registered:
            now = self.system.clock.now()
            store = self.system.store
            await store.register_worker(
                self.worker_id, socket.gethostname(), os.getpid(), self.queues, now,
                tasks=self.tasks,
            )  # fmt: skip
            self._registered = True
            self._counted_from = WorkerCounts(self.progress.processed, self.progress.failed)
            await self._cancels.watch()
            self.heartbeat.streak.beat_succeeded(self.system.clock.now())

    def _on_rescued(self, rescued: list[RescuedJob]) -> None:
        self._doorbell.ring_for_work()

    # -- job control ------------------------------------------------------------------
    def _on_cancelled(self, attempt: Attempt, seconds: float) -> None:
        log_cancelled(attempt.job, seconds)
        self.progress.cancelled()
        self._doorbell.ring()
        self._producer.start_buffered()

    async def _write_progress(
        self, job_id: str, fraction: float | None, message: str | None
    ) -> None:
        await self.system.store.report_progress(
            job_id, self.worker_id, fraction, message, self.system.clock.now()
        )


def _or(value: float | None, default: float) -> float:
    return float(default if value is None else value)
