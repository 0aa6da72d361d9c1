"""Running attempts: launching a job's call and turning how it ended into an outcome.

An async task runs on the event loop, a plain function in a thread pool or a
process pool; a timeout is a timer on the loop, so no job costs a watcher. When
a call ends (or times out) the executor judges it — a ``Completion``, or a
``Failure`` that retries, times out, cancels or fails the job — and hands the
outcome to ``on_finished``. It never touches the store: the worker's
completer writes outcomes, and ``testing.perform`` reads them directly (progress
reports go through the ``write_progress`` it is given).

A job cancelled while it runs (``cancel``) gets no outcome (the store has ended
it already): an async call is cancelled on the loop, a process-pool call's child
is terminated, and a thread-pool call's context flag is set, the call abandoned
when it has not returned within ``cancel_grace``. See docs/job-control.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from uno.jobs.clock import Clock
from uno.jobs.context import PROGRESS_INTERVAL, JobContext, context_parameter
from uno.jobs.errors import Cancel, TaskNotFound
from uno.jobs.jobs import Job, JobError, Status
from uno.jobs.limits import Limits
from uno.jobs.store import Completion, Failure
from uno.jobs.tasks import Task, TaskRegistry
from uno.jobs.worker.execute import (
    JobTimedOut,
    ResultNotSerializable,
    check_result,
    error_of,
    outcome_failure,
    retry_time,
)
from uno.jobs.worker.processes import ProcessPool
from uno.jobs.worker.reporting import ProgressReporter, WriteProgress
from uno.jobs.worker.threads import ThreadPool

log = logging.getLogger("uno.jobs.worker")

_perf = time.perf_counter

Outcome = Completion | Failure

#: Cancels of jobs not (yet) running here that are remembered for a later launch.
_EARLY_CANCELS = 256


class Attempt:
    """One run of a job's call, from launch until its outcome is decided."""

    __slots__ = ("cancelled", "done", "error", "flag", "handle", "job", "t0", "task", "timer")

    def __init__(self, job: Job, task: Task | None, t0: float) -> None:
        self.job = job
        self.task = task
        self.t0 = t0
        self.done = False
        #: What the call raised (or why its outcome could not be decided), once failed.
        self.error: BaseException | None = None
        self.handle: asyncio.Task[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        #: Set when the job is cancelled while running (seen by its ``JobContext``).
        self.flag: threading.Event | None = None
        #: True once the job was cancelled while running: its outcome is not reported.
        self.cancelled = False


#: ``on_finished(attempt, outcome, seconds)``, called on the event loop once per attempt.
OnFinished = Callable[[Attempt, Outcome, float], None]
#: ``on_cancelled(attempt, seconds)``: a job cancelled while running has stopped (or
#: been abandoned); no outcome follows.
OnCancelled = Callable[[Attempt, float], None]


class Executor:
    """Launches jobs and reports each outcome to ``on_finished``; ``running`` holds
    the attempts still going, by job id."""

    def __init__(
        self,
        registry: TaskRegistry,
        clock: Clock,
        limits: Limits,
        concurrency: int,
        on_finished: OnFinished,
        worker_id: str = "",
        *,
        write_progress: WriteProgress | None = None,
        on_cancelled: OnCancelled | None = None,
        on_recheck: Callable[[str], None] | None = None,
        cancel_grace: float = 5.0,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.limits = limits
        self.concurrency = concurrency
        self.worker_id = worker_id
        self.on_finished = on_finished
        self.write_progress = write_progress
        self.on_cancelled = on_cancelled
        self.on_recheck = on_recheck
        #: Seconds a cancelled thread-pool call has to see its flag and return.
        self.cancel_grace = cancel_grace
        self.running: dict[str, Attempt] = {}
        #: Cancels heard for jobs not launched yet (the notice can overtake the claim's
        #: answer): such a job is checked with the store (``on_recheck``) once launched.
        #: Bounded; the oldest are forgotten.
        self._cancelled_early: dict[str, None] = {}
        self._tasks: dict[tuple[str, str | None], Task | None] = {}
        self._threads: ThreadPool | None = None
        self._processes: ProcessPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- launching --------------------------------------------------------------
    def launch(self, job: Job, task: Task | None = None) -> None:
        """Start the job's call (``task``, else the registry's task for the job)."""
        if task is None:
            task = self._task_for(job)
        run = Attempt(job, task, _perf())
        self.running[job.id] = run
        # Cancelled before it got here, or a cancel of an earlier attempt (the job
        # retried by hand since): the worker asks the store which.
        early = self._cancelled_early
        if early and early.pop(job.id, 0) is None and self.on_recheck is not None:
            self.on_recheck(job.id)
        if task is None:
            self._settle(
                run, False, TaskNotFound(f"Task not found in this worker: {job.task_name}")
            )
            return
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if job.timeout is not None:
            run.timer = loop.call_at(loop.time() + job.timeout, self._on_timeout, run)
        # Inline, not in helpers: this runs once per job (the worker's hot path).
        name = context_parameter(task.func)
        kwargs = job.kwargs if name is None else self._with_context(loop, run, name)
        if not task.is_async:
            pool = self._process_pool() if task.executor == "process" else self._thread_pool()
            pool.submit(run, task.func, job.args, kwargs)
            return
        try:
            coro = task.func(*job.args, **kwargs)
        except BaseException as exc:
            self._settle(run, False, exc)
            return
        handle = run.handle = loop.create_task(coro)
        handle.add_done_callback(partial(self._on_async_done, run))

    def _with_context(
        self, loop: asyncio.AbstractEventLoop, run: Attempt, name: str
    ) -> dict[str, Any]:
        """The job's kwargs with a ``JobContext`` as ``name``, for a task that asks for one."""
        job = run.job
        run.flag = threading.Event()
        sink = None
        if self.write_progress is not None:
            sink = ProgressReporter(loop, self.write_progress, job.id, PROGRESS_INTERVAL)
        context = JobContext(job.id, job.retry_count + 1, run.flag, sink)
        return {**job.kwargs, name: context}

    def _task_for(self, job: Job) -> Task | None:
        """The job's task at its version, else (a newer deploy) the highest one known."""
        key = (job.task_name, job.version)
        try:
            return self._tasks[key]
        except KeyError:
            pass
        task = self._lookup(job.task_name, job.version)
        if task is None and job.version is not None:
            task = self._lookup(job.task_name, None)
        self._tasks[key] = task
        return task

    def _lookup(self, name: str, version: str | None) -> Task | None:
        try:
            return self.registry.get(name, version)
        except TaskNotFound:
            return None

    def _thread_pool(self) -> ThreadPool:
        if self._threads is None:
            self._threads = ThreadPool(self.concurrency, self._on_pool_done)
        return self._threads

    def _process_pool(self) -> ProcessPool:
        if self._processes is None:
            size = min(self.concurrency, os.cpu_count() or 1)
            self._processes = ProcessPool(size, self._on_pool_done)
        return self._processes

    # -- cancelling -----------------------------------------------------------------
    def cancel(self, job_id: str) -> bool:
        """The job was cancelled while running: stop its call. No outcome follows.

        Async: the coroutine is cancelled on the loop. Process pool: the child is
        terminated. Thread pool: the context's flag is set; the call is abandoned
        (its thread runs on, its result dropped) unless it returns within
        ``cancel_grace``. False when the job does not run here."""
        run = self.running.get(job_id)
        if run is None:
            self._cancelled_early[job_id] = None
            if len(self._cancelled_early) > _EARLY_CANCELS:
                del self._cancelled_early[next(iter(self._cancelled_early))]
            return False
        if run.done or run.cancelled:
            return False
        run.cancelled = True
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        if run.flag is not None:
            run.flag.set()
        task = run.task
        if run.handle is not None:
            run.handle.cancel()  # _on_async_done ends it
        elif task is not None and task.executor == "process" and not task.is_async:
            self._abandon(run)
            self._stopped(run)
        else:
            loop = self._loop or asyncio.get_running_loop()
            run.timer = loop.call_later(self.cancel_grace, self._give_up, run)
        return True

    def _give_up(self, run: Attempt) -> None:
        """A cancelled thread call that has not returned within the grace period."""
        run.timer = None
        if not run.done:
            self._abandon(run)
            self._stopped(run)

    def _stopped(self, run: Attempt) -> None:
        run.done = True
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        self.running.pop(run.job.id, None)
        if self.on_cancelled is not None:
            self.on_cancelled(run, _perf() - run.t0)

    # -- withdrawing --------------------------------------------------------------
    def withdraw(self) -> list[str]:
        """Stop waiting for every running call (a stop past its grace period); the
        ids of their jobs, which get no outcome: the caller hands them back."""
        runs = list(self.running.values())
        for run in runs:
            run.done = True
            if run.timer is not None:
                run.timer.cancel()
            self._abandon(run)
        self.running.clear()
        return [run.job.id for run in runs]

    def _abandon(self, run: Attempt) -> None:
        """Stop waiting for a call: cancel it, kill its process, or leave its thread."""
        if run.handle is not None:
            run.handle.cancel()
        elif run.task is not None and run.task.executor == "process" and not run.task.is_async:
            if self._processes is not None:
                self._processes.abandon(run)
        elif self._threads is not None:
            self._threads.abandon(run)

    def close(self) -> None:
        """Shut the pools down (abandoned threads run on, as daemons)."""
        if self._threads is not None:
            self._threads.close()
            self._threads = None
        if self._processes is not None:
            self._processes.close()
            self._processes = None

    # -- how calls end --------------------------------------------------------------
    def _on_async_done(self, run: Attempt, handle: asyncio.Task[Any]) -> None:
        if run.done:
            return
        if run.cancelled:
            self._stopped(run)
            return
        if handle.cancelled():
            self._settle(run, False, asyncio.CancelledError("the task was cancelled"))
            return
        exc = handle.exception()
        if exc is None:
            self._settle(run, True, handle.result())
        else:
            self._settle(run, False, exc)

    def _on_pool_done(self, run: Attempt, ok: bool, value: Any) -> None:
        if run.done:
            return
        if run.cancelled:  # a thread call that saw its flag within the grace period
            self._stopped(run)
            return
        self._settle(run, ok, value)

    def _on_timeout(self, run: Attempt) -> None:
        if run.done or run.cancelled:
            return
        run.timer = None
        self._abandon(run)
        self._settle(run, False, JobTimedOut(run.job.timeout or 0.0))

    def _settle(self, run: Attempt, ok: bool, value: Any) -> None:
        """The end of an attempt: judge it and hand its outcome on."""
        run.done = True
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        self.running.pop(run.job.id, None)
        duration = _perf() - run.t0
        self.on_finished(run, self._judge(run, ok, value, self.clock.now()), duration)

    # -- judging ----------------------------------------------------------------------
    def _judge(self, run: Attempt, ok: bool, value: Any, now: datetime) -> Outcome:
        job = run.job
        try:
            if ok:
                try:
                    return Completion(job.id, check_result(value, job.task_name, self.limits), now)
                except ResultNotSerializable as exc:
                    value = exc
            run.error = value
            return self._failure(run, value, now)
        except Exception as problem:
            # Deciding the outcome failed (a retry time out of range, an exception
            # that cannot describe itself): the attempt fails, the job never stays running.
            log.exception("worker %s could not settle job %s", self.worker_id, job.id)
            run.error = problem
            return outcome_failure(job.id, problem, now, self.limits)

    def _failure(self, run: Attempt, exc: BaseException, now: datetime) -> Failure:
        job = run.job
        error: JobError = error_of(exc, self.limits)
        if isinstance(exc, Cancel):
            return Failure(job.id, error, now, Status.CANCELLED)
        if job.retry_count < job.max_retries:
            retry_at = retry_time(exc, run.task, job, now, self.limits)
            return Failure(job.id, error, now, Status.RETRYING, retry_at)
        status = Status.TIMEOUT if isinstance(exc, JobTimedOut) else Status.FAILED
        return Failure(job.id, error, now, status)
