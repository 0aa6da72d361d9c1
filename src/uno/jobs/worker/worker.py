"""The Worker: fetches jobs in batches, runs them, and reports back in batches.

One loop turn costs at most two store calls whatever the number of jobs: one
``fetch_jobs`` sized to the free slots, which claims the batch straight into
running, and one ``complete_jobs`` / ``fail_jobs`` for everything that finished
since the last turn. Async tasks run on the event loop, plain functions in a thread pool
or a process pool; timeouts are timers on the loop, so no job costs a watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from uno.jobs.errors import Cancel, TaskNotFound
from uno.jobs.events import EventKind, JobEvent
from uno.jobs.jobs import Job, JobError, Status
from uno.jobs.queries import JobFilter
from uno.jobs.store import Completion, Failure, RescuedJob
from uno.jobs.system import JobSystem
from uno.jobs.tasks import Task
from uno.jobs.worker import signals
from uno.jobs.worker.completer import OutcomesPending, Written, write_outcomes
from uno.jobs.worker.execute import (
    JobTimedOut,
    ResultNotSerializable,
    check_result,
    error_of,
    outcome_failure,
    retry_time,
)
from uno.jobs.worker.heartbeat import Heartbeat
from uno.jobs.worker.processes import ProcessPool
from uno.jobs.worker.threads import ThreadPool

log = logging.getLogger("uno.jobs.worker")

_perf = time.perf_counter


def default_worker_id() -> str:
    """host-pid-random: readable in the job list, unique across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class _Run:
    """One job this worker is running."""

    __slots__ = ("done", "handle", "job", "t0", "task", "timer")

    def __init__(self, job: Job, task: Task | None, t0: float) -> None:
        self.job = job
        self.task = task
        self.t0 = t0
        self.done = False
        self.handle: asyncio.Task[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None


class Worker:
    """Runs jobs of ``queues`` (every queue when None), ``concurrency`` at a time.

    Unset options come from ``system.settings``. Drive it with ``run()`` (the
    loop, until stopped or, with ``until_empty``, until no due job is left) or
    step it with ``run_once()``.
    """

    #: Longest wait for new work before looking again (jobs may become due).
    idle_timeout = 0.5
    #: Longest time a finished job waits before its result is written.
    flush_interval = 0.005

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
    ) -> None:
        settings = system.settings
        self.system = system
        self.queues: list[str] | None = list(queues) if queues else None
        self.concurrency = int(concurrency if concurrency is not None else settings.concurrency)
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        self.worker_id = worker_id or default_worker_id()
        self.heartbeat_interval = _or(heartbeat_interval, settings.heartbeat_interval)
        self.rescue_after = _or(rescue_after, settings.rescue_after)
        self.shutdown_grace = _or(shutdown_grace, settings.shutdown_grace)
        self.limits = settings.limits
        self.processed = 0
        self.heartbeat = Heartbeat(
            system.store,
            system.clock,
            self.worker_id,
            self.heartbeat_interval,
            self.rescue_after,
            on_rescued=self._on_rescued,
        )
        self._running: dict[str, _Run] = {}
        self._completions: list[Completion] = []
        self._failures: list[Failure] = []
        self._finished: list[tuple[_Run, Status, float]] = []
        self._first_buffered = 0.0
        self._tasks: dict[tuple[str, str | None], Task | None] = {}
        self._threads: ThreadPool | None = None
        self._processes: ProcessPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Future[None] | None = None
        self._registered = False
        self._stopping = False
        self._grace: float | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._new_work = True
        #: Counts flushes that wrote retries (work that may be due again soon).
        self._retries_written = 0
        #: Set by a store error: jobs may be reserved for us that we never started.
        self._strays_possible = False

    # -- public ---------------------------------------------------------------
    async def run_once(self) -> int:
        """Fetch one batch, run every job of it to the end, write the outcomes.

        Returns the number of jobs run. Tests step the worker with this.
        """
        await self._begin()
        count = await self._fetch_and_start(self.concurrency)
        while self._running:
            await self._wait_for_finish(None)
        await self._flush()
        return count

    async def run(self, *, until_empty: bool = False) -> None:
        """Run jobs until stopped; with ``until_empty``, until none is due or running."""
        await self._begin()
        loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        beating = asyncio.create_task(self.heartbeat.run(), name=f"heartbeat:{self.worker_id}")
        try:
            await self.heartbeat.rescue()
            await self._loop_resiliently(until_empty)
            await self._finish_running()
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            await self._flush_safely()
            await self.close()
            if not self._stopped.done():
                self._stopped.set_result(None)

    def request_stop(self, grace: float | None = None) -> None:
        """Fetch nothing more; let running jobs finish within the grace period.

        Safe from any thread and from signal handlers. Asked twice, the worker
        stops at once and hands its running jobs back.
        """
        if self._stopping:
            self._grace = 0.0
        else:
            self._stopping = True
            if grace is not None:
                self._grace = grace
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._poke)

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
        if self._threads is not None:
            self._threads.close()
            self._threads = None
        if self._processes is not None:
            self._processes.close()
            self._processes = None
        if self._registered:
            self._registered = False
            try:
                await self.system.store.unregister_worker(self.worker_id)
            except Exception:
                log.exception("could not unregister worker %s", self.worker_id)

    async def __aenter__(self) -> Worker:
        await self._begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the loop -------------------------------------------------------------
    async def _begin(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.system.open()
        if not self._registered:
            await self.system.store.register_worker(
                self.worker_id,
                socket.gethostname(),
                os.getpid(),
                self.queues,
                self.system.clock.now(),
            )
            self._registered = True
            self.heartbeat.streak.beat_succeeded(self.system.clock.now())

    async def _loop_resiliently(self, until_empty: bool) -> None:
        """A failing store (a restart, a lock) pauses the loop instead of ending it;
        in burst mode the error is raised, since the caller waits for the end."""
        backoff = 0.1
        while True:
            try:
                await self._loop_until_stopped(until_empty)
                return
            except Exception:
                if until_empty:
                    raise
                log.exception("worker %s: store error, retrying in %gs", self.worker_id, backoff)
                self._strays_possible = True
                await self._wait_for_finish(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _loop_until_stopped(self, until_empty: bool) -> None:
        store = self.system.store
        concurrency = self.concurrency
        flush_batch = max(1, concurrency // 2)
        if self._strays_possible:
            await self._release_strays()
        while not self._stopping:
            flush = bool(self._finished) and (
                not self._running
                or len(self._finished) >= flush_batch
                or _perf() - self._first_buffered >= self.flush_interval
            )
            free = concurrency - len(self._running)
            fetch = free > 0 and (self._new_work or until_empty)
            fetched = 0
            if flush and fetch:
                retried = self._retries_written
                fetched = await self._flush_and_fetch(free)
                # A short batch: nothing more is due until the store says otherwise,
                # unless the outcomes written alongside made retries due.
                self._new_work = fetched == free or self._retries_written != retried
                if not fetched and self._retries_written != retried:
                    continue  # claim the retries before deciding there is nothing to do
            elif flush:
                await self._flush()
            elif fetch:
                fetched = await self._fetch_and_start(free)
                self._new_work = fetched == free
            if self._stopping:
                break
            flush_wait = None
            if self._finished:
                flush_wait = max(0.0, self.flush_interval - (_perf() - self._first_buffered))
            if self._running:
                if len(self._running) < concurrency and not until_empty:
                    await self._wait_for_work(store.wait_for_jobs(self.idle_timeout), flush_wait)
                else:
                    await self._wait_for_finish(flush_wait)
            elif self._finished:
                continue
            elif not fetched:
                if until_empty:
                    return
                await self._wait_for_work(store.wait_for_jobs(self.idle_timeout))

    async def _finish_running(self) -> None:
        """Stopping: let running jobs end within the grace period, hand back the rest."""
        loop = asyncio.get_running_loop()
        grace = self.shutdown_grace if self._grace is None else self._grace
        deadline = loop.time() + grace
        if self._running:
            log.info(
                "worker %s stopping: waiting up to %gs for %d running job(s)",
                self.worker_id,
                grace,
                len(self._running),
            )
        while self._running:
            if self._grace is not None:  # asked again: the grace period may have shrunk
                deadline = min(deadline, loop.time() + self._grace)
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if self._finished:
                await self._flush()
            await self._wait_for_finish(min(remaining, 0.05))
        if self._running:
            await self._hand_back(list(self._running.values()))

    async def _release_strays(self) -> None:
        """Hand back jobs held for this worker that it is not running.

        A fetch whose answer was lost in a broken connection leaves them held by
        a worker that is alive and beating, so no rescue would ever take them back.
        """
        store = self.system.store
        job_filter = JobFilter(
            worker_id=self.worker_id, statuses=(Status.RESERVED, Status.RUNNING), limit=500
        )
        while True:
            page, _ = await store.list_jobs(job_filter)
            mine = set(self._running) | {run.job.id for run, _, _ in self._finished}
            stray = [job.id for job in page if job.id not in mine]
            if stray:
                await store.release_jobs(self.worker_id, stray)
                log.warning("worker %s handed back %d stray job(s)", self.worker_id, len(stray))
            if len(page) < job_filter.limit or not stray:
                break
        self._strays_possible = False

    async def _hand_back(self, runs: list[_Run]) -> None:
        for run in runs:
            run.done = True
            if run.timer is not None:
                run.timer.cancel()
            self._abandon(run)
            self._running.pop(run.job.id, None)
        await self._flush()
        ids = [run.job.id for run in runs]
        await self.system.store.release_jobs(self.worker_id, ids)
        log.warning("worker %s handed back %d unfinished job(s)", self.worker_id, len(ids))

    # -- fetching and starting --------------------------------------------------
    async def _flush_and_fetch(self, free: int) -> int:
        """Write the finished outcomes while claiming the next batch.

        The two statements are independent (other rows, other connections), so
        the store works on one while the worker waits on the other: one wait per
        loop turn instead of two.
        """
        flushing = asyncio.ensure_future(self._flush())
        try:
            return await self._fetch_and_start(free)
        finally:
            await flushing

    async def _fetch_and_start(self, limit: int) -> int:
        """Claim up to ``limit`` jobs straight into running, and launch them."""
        system = self.system
        store = system.store
        now = system.clock.now()
        jobs = await store.fetch_jobs(self.worker_id, self.queues, limit, now, running=limit)
        if not jobs:
            return 0
        if self._stopping:
            await store.release_jobs(self.worker_id, [job.id for job in jobs])
            return 0
        publish = system.events.active
        for job in jobs:
            self._launch(job)
            if publish:
                due = max(job.created_at or now, job.scheduled_at or now)
                system.events.publish(
                    JobEvent(
                        EventKind.STARTED,
                        job.id,
                        job.task_name,
                        job.queue_name,
                        Status.RUNNING,
                        wait_time=(now - due).total_seconds(),
                    )
                )
        return len(jobs)

    def _task_for(self, job: Job) -> Task | None:
        """The job's task at its version, else (a newer deploy) the highest one known."""
        key = (job.task_name, job.version)
        try:
            return self._tasks[key]
        except KeyError:
            pass
        registry = self.system.registry
        task: Task | None
        try:
            task = registry.get(job.task_name, job.version)
        except TaskNotFound:
            task = None
        if task is None and job.version is not None:
            try:
                task = registry.get(job.task_name)
            except TaskNotFound:
                task = None
        self._tasks[key] = task
        return task

    def _launch(self, job: Job) -> None:
        task = self._task_for(job)
        run = _Run(job, task, _perf())
        self._running[job.id] = run
        if task is None:
            missing = TaskNotFound(f"Task not found in this worker: {job.task_name}")
            self._settle(run, False, missing)
            return
        loop = self._loop
        assert loop is not None
        if job.timeout is not None:
            run.timer = loop.call_at(loop.time() + job.timeout, self._on_timeout, run)
        if task.is_async:
            try:
                coro = task.func(*job.args, **job.kwargs)
            except BaseException as exc:
                self._settle(run, False, exc)
                return
            handle = loop.create_task(coro)
            run.handle = handle
            handle.add_done_callback(partial(self._on_async_done, run))
        elif task.executor == "process":
            if self._processes is None:
                size = min(self.concurrency, os.cpu_count() or 1)
                self._processes = ProcessPool(size, self._on_pool_done)
            self._processes.submit(run, task.func, job.args, job.kwargs)
        else:
            if self._threads is None:
                self._threads = ThreadPool(self.concurrency, self._on_pool_done)
            self._threads.submit(run, task.func, job.args, job.kwargs)

    # -- outcomes -------------------------------------------------------------
    def _on_async_done(self, run: _Run, handle: asyncio.Task[Any]) -> None:
        if run.done:
            return
        if handle.cancelled():
            self._settle(run, False, asyncio.CancelledError("the task was cancelled"))
            return
        exc = handle.exception()
        if exc is None:
            self._settle(run, True, handle.result())
        else:
            self._settle(run, False, exc)

    def _on_pool_done(self, run: _Run, ok: bool, value: Any) -> None:
        if not run.done:
            self._settle(run, ok, value)

    def _on_timeout(self, run: _Run) -> None:
        if run.done:
            return
        run.timer = None
        self._abandon(run)
        self._settle(run, False, JobTimedOut(run.job.timeout or 0.0))

    def _abandon(self, run: _Run) -> None:
        """Stop waiting for a running call: cancel it, kill its process, or leave its thread."""
        if run.handle is not None:
            run.handle.cancel()
        elif run.task is not None and run.task.executor == "process" and not run.task.is_async:
            if self._processes is not None:
                self._processes.abandon(run)
        elif self._threads is not None:
            self._threads.abandon(run)

    def _settle(self, run: _Run, ok: bool, value: Any) -> None:
        """Record the end of an attempt; the store hears of it at the next flush."""
        run.done = True
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        self._running.pop(run.job.id, None)
        duration = _perf() - run.t0
        now = self.system.clock.now()
        job = run.job
        if not self._finished:
            self._first_buffered = _perf()
        try:
            if ok:
                try:
                    value = check_result(value, job.task_name, self.limits)
                except ResultNotSerializable as exc:
                    ok, value = False, exc
            if ok:
                self._completions.append(Completion(job.id, value, now))
                self._finished.append((run, Status.COMPLETED, duration))
            else:
                failure = self._failure(run, value, now)
                self._failures.append(failure)
                self._finished.append((run, failure.status, duration))
        except Exception as problem:
            # Deciding the outcome failed (a retry time out of range, an exception
            # that cannot describe itself): the attempt fails, the job never stays running.
            log.exception("worker %s could not settle job %s", self.worker_id, job.id)
            self._failures.append(outcome_failure(job.id, problem, now, self.limits))
            self._finished.append((run, Status.FAILED, duration))
        self._poke()

    def _failure(self, run: _Run, exc: BaseException, now: datetime) -> Failure:
        job = run.job
        error: JobError = error_of(exc, self.limits)
        if isinstance(exc, Cancel):
            return Failure(job.id, error, now, Status.CANCELLED)
        if job.retry_count < job.max_retries:
            retry_at = retry_time(exc, run.task, job, now, self.limits)
            return Failure(job.id, error, now, Status.RETRYING, retry_at)
        status = Status.TIMEOUT if isinstance(exc, JobTimedOut) else Status.FAILED
        return Failure(job.id, error, now, status)

    async def _flush(self) -> None:
        """Write every buffered outcome: one complete_jobs and one fail_jobs call
        (one call per outcome when a batch is refused, see ``completer``)."""
        if not self._finished:
            return
        completions, failures, finished = self._completions, self._failures, self._finished
        self._completions, self._failures, self._finished = [], [], []
        try:
            written = await write_outcomes(
                self.system.store,
                self.worker_id,
                completions,
                failures,
                self.system.clock.now(),
                self.limits,
            )
        except OutcomesPending as pending:
            # Keep the unwritten ones for the next flush: they are still ours to report.
            unwritten = {o.job_id for o in pending.completions} | {
                o.job_id for o in pending.failures
            }
            self._completions[:0] = pending.completions
            self._failures[:0] = pending.failures
            self._finished[:0] = [item for item in finished if item[0].job.id in unwritten]
            self._written(
                [item for item in finished if item[0].job.id not in unwritten],
                [f for f in failures if f.job_id not in unwritten],
                pending.written,
            )
            raise pending.cause from None  # the store's own error, as callers expect
        except BaseException:
            self._completions[:0] = completions
            self._failures[:0] = failures
            self._finished[:0] = finished
            raise
        self._written(finished, failures, written)

    def _written(
        self,
        finished: list[tuple[_Run, Status, float]],
        failures: list[Failure],
        written: Written,
    ) -> None:
        """Account for outcomes the store has taken (or refused, for rescued jobs)."""
        self.processed += len(finished)
        for job_id in written.refused:
            log.warning(
                "worker %s: job %s is no longer held by this worker (rescued while it "
                "ran); the outcome of this attempt is dropped",
                self.worker_id,
                job_id,
            )
        if any(f.retry_at is not None for f in failures):
            self._new_work = True
            self._retries_written += 1
        events = self.system.events
        if events.active:
            replaced = written.replaced
            for run, status, duration in finished:
                job = run.job
                if job.id in replaced:
                    status = Status.FAILED
                kind = EventKind.SUCCEEDED if status is Status.COMPLETED else EventKind.FAILED
                events.publish(
                    JobEvent(kind, job.id, job.task_name, job.queue_name, status, duration)
                )

    async def _flush_safely(self) -> None:
        try:
            await self._flush()
        except Exception:
            log.exception(
                "worker %s could not write %d outcome(s)", self.worker_id, len(self._finished)
            )

    # -- waiting ----------------------------------------------------------------
    def _poke(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _on_rescued(self, rescued: list[RescuedJob]) -> None:
        self._new_work = True
        self._poke()

    async def _wait_for_finish(self, timeout: float | None) -> None:
        """Until a running job ends, a stop is requested, or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        timer = loop.call_later(timeout, self._poke) if timeout is not None else None
        try:
            await wake
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()

    async def _wait_for_work(self, waiting: Any, timeout: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        store_wait = asyncio.ensure_future(waiting)
        try:
            done, _ = await asyncio.wait(
                {wake, store_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if store_wait in done:
                self._new_work = True
        finally:
            self._wake = None
            if not store_wait.done():
                store_wait.cancel()
                await asyncio.gather(store_wait, return_exceptions=True)


def _or(value: float | None, default: float) -> float:
    return float(default if value is None else value)
