"""Writing the outcomes of attempts: in batches, and one by one when a batch fails.

``Completer`` buffers the outcomes the executor decides and writes them when its
``FlushPolicy`` says so: batched (the worker's default: at most a few
milliseconds late, or once half the slots have finished, or when nothing runs)
or inline (at every turn of the worker, for tests). A flush can overlap the
worker's next claim (``flush_while``): the two statements touch other rows, so
the store works on one while the worker waits on the other.

A batch costs one ``complete_jobs`` and one ``fail_jobs`` call whatever its size.
When one of them raises, the cause is either the store (unreachable: every
outcome stays with the worker for the next flush) or one outcome the store cannot
take (a value it refuses to encode). The batch is then written one outcome at a
time, and an outcome that fails on its own is replaced by a failure of its
attempt: one bad outcome neither holds back the others nor leaves its job running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from uno.jobs.clock import Clock
from uno.jobs.errors import StoreUnavailable
from uno.jobs.events import EventHub, EventKind, JobEvent
from uno.jobs.jobs import Status
from uno.jobs.limits import Limits
from uno.jobs.store import Completion, Failure, Store
from uno.jobs.worker.execute import outcome_failure
from uno.jobs.worker.executor import Attempt
from uno.jobs.worker.outcome_log import Finished, Outcome, log_outcomes, outcome_log
from uno.jobs.worker.progress import Progress

log = logging.getLogger("uno.jobs.worker")

_perf = time.perf_counter


@dataclass(slots=True)
class Written:
    """What became of a flush that reached the store."""

    #: Jobs the store no longer let this worker settle: rescued (or handed on) meanwhile.
    refused: list[str] = field(default_factory=list)
    #: Outcomes the store could not take, by job id, and the failure written instead.
    replaced: dict[str, Failure] = field(default_factory=dict)
    #: Outcomes the store took (the worker's counts: its heartbeat writes them).
    processed: int = 0
    #: Of which failures (retried or not).
    failed: int = 0

    def took(self, given: int, refused: list[str], *, failures: bool) -> None:
        """Account for one outcome statement of ``given`` outcomes."""
        self.refused += refused
        taken = given - len(refused)
        self.processed += taken
        if failures:
            self.failed += taken


class OutcomesPending(Exception):
    """The store could not be reached: these outcomes are still to be written.

    ``written`` tells what became of the outcomes of the same flush that were
    written before the store went away; ``cause`` is the store's error.
    """

    def __init__(
        self,
        completions: list[Completion],
        failures: list[Failure],
        written: Written,
        cause: BaseException,
    ) -> None:
        super().__init__(f"{len(completions) + len(failures)} outcome(s) not written: {cause}")
        self.completions = completions
        self.failures = failures
        self.written = written
        self.cause = cause


async def write_outcomes(
    store: Store,
    worker_id: str,
    completions: Sequence[Completion],
    failures: Sequence[Failure],
    now: datetime,
    limits: Limits,
) -> Written:
    """Write every outcome, or raise ``OutcomesPending`` with those still to write."""
    written = Written()
    refused = await _write_batches(store, worker_id, completions, failures, written)
    if refused:
        await _write_one_by_one(store, worker_id, refused, now, limits, written)
    return written


async def _write_batches(
    store: Store,
    worker_id: str,
    completions: Sequence[Completion],
    failures: Sequence[Failure],
    written: Written,
) -> list[Outcome]:
    """Write the outcomes as (at most) two statements; the outcomes of a batch the
    store refused come back to be written one by one. A store that is unreachable
    raises ``OutcomesPending`` instead: one by one would fail the same way."""
    completed = False
    try:
        if completions:
            refused = await store.complete_jobs(worker_id, completions)
            written.took(len(completions), refused, failures=False)
        completed = True
        if failures:
            written.took(len(failures), await store.fail_jobs(worker_id, failures), failures=True)
        return []
    except Exception as batch_error:
        pending: list[Outcome] = [*([] if completed else completions), *failures]
        if isinstance(batch_error, StoreUnavailable):
            raise _still_pending(pending, written, batch_error) from batch_error
        log.warning(
            "worker %s: a batch of %d outcome(s) was refused (%s: %s); writing them one by one",
            worker_id,
            len(pending),
            type(batch_error).__name__,
            batch_error,
        )
        return pending


async def _write_one_by_one(
    store: Store,
    worker_id: str,
    pending: list[Outcome],
    now: datetime,
    limits: Limits,
    written: Written,
) -> None:
    """Write each outcome alone; one the store refuses is recorded as a failed
    attempt instead, so that one bad outcome never holds back the others."""
    for index, outcome in enumerate(pending):
        try:
            refused = await _write_one(store, worker_id, outcome)
            written.took(1, refused, failures=isinstance(outcome, Failure))
            continue
        except StoreUnavailable as exc:
            raise _still_pending(pending[index:], written, exc) from exc
        except Exception as own_error:
            replacement = outcome_failure(outcome.job_id, own_error, now, limits)
            problem = own_error
        try:
            written.took(1, await store.fail_jobs(worker_id, [replacement]), failures=True)
        except Exception as exc:
            raise _still_pending(pending[index:], written, exc) from exc
        written.replaced[outcome.job_id] = replacement
        log.error(
            "worker %s: the outcome of job %s could not be written (%s: %s); "
            "the attempt is recorded as failed",
            worker_id,
            outcome.job_id,
            type(problem).__name__,
            problem,
        )


async def _write_one(store: Store, worker_id: str, outcome: Outcome) -> list[str]:
    if isinstance(outcome, Completion):
        return await store.complete_jobs(worker_id, [outcome])
    return await store.fail_jobs(worker_id, [outcome])


def _still_pending(
    pending: Sequence[Outcome], written: Written, cause: BaseException
) -> OutcomesPending:
    return OutcomesPending(
        [o for o in pending if isinstance(o, Completion)],
        [o for o in pending if isinstance(o, Failure)],
        written,
        cause,
    )


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """When buffered outcomes are written: once ``batch`` of them wait, once the
    oldest has waited ``interval`` seconds, or whenever no job runs."""

    batch: int
    interval: float

    @classmethod
    def batched(cls, concurrency: int, interval: float) -> FlushPolicy:
        """Half the slots, or ``interval``: few writes under load, little delay when idle."""
        return cls(max(1, concurrency // 2), interval)

    @classmethod
    def inline(cls) -> FlushPolicy:
        """Every outcome written at the worker's next turn."""
        return cls(1, 0.0)


class Completer:
    """Holds the outcomes of finished attempts until they are written.

    ``add`` is the executor's ``on_finished``; ``on_buffered`` tells the worker's
    loop that something waits to be written.
    """

    def __init__(
        self,
        store: Store,
        worker_id: str,
        clock: Clock,
        limits: Limits,
        events: EventHub,
        policy: FlushPolicy,
        on_buffered: Callable[[], None],
        progress: Progress,
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.clock = clock
        self.limits = limits
        self.events = events
        self.policy = policy
        self.on_buffered = on_buffered
        self.progress = progress
        self._completions: list[Completion] = []
        self._failures: list[Failure] = []
        self._finished: list[Finished] = []
        self._first_buffered = 0.0

    # -- buffering ----------------------------------------------------------------
    def add(self, attempt: Attempt, outcome: Outcome, duration: float) -> None:
        finished = self._finished
        if not finished:
            self._first_buffered = _perf()
        if type(outcome) is Completion:
            self._completions.append(outcome)
        else:
            assert isinstance(outcome, Failure)
            self._failures.append(outcome)
        finished.append((attempt.job, outcome, duration))
        self.on_buffered()

    @property
    def pending(self) -> int:
        """Outcomes not written yet."""
        return len(self._finished)

    def pending_ids(self) -> list[str]:
        """The jobs whose outcomes are not written yet: still held by this worker."""
        return [job.id for job, _, _ in self._finished]

    def due(self, running: int) -> bool:
        """Whether to write now, with ``running`` attempts still going."""
        finished = self._finished
        return bool(finished) and (
            not running
            or len(finished) >= self.policy.batch
            or _perf() - self._first_buffered >= self.policy.interval
        )

    def wait_time(self) -> float | None:
        """Seconds until the buffered outcomes are due; None when none is buffered."""
        if not self._finished:
            return None
        return max(0.0, self.policy.interval - (_perf() - self._first_buffered))

    # -- writing ------------------------------------------------------------------------
    async def flush_while(self, claiming: Awaitable[int]) -> tuple[int, bool]:
        """Write the buffered outcomes while ``claiming`` runs: one wait instead of two.

        Returns what ``claiming`` returned, and whether retries were written.
        """
        flushing = asyncio.ensure_future(self.flush())
        try:
            claimed = await claiming
        finally:
            retries = await flushing
        return claimed, retries

    async def flush(self) -> bool:
        """Write every buffered outcome: one complete_jobs and one fail_jobs call (one
        call per outcome when a batch is refused, see ``write_outcomes``).

        True when a retry was written (work that may be due again soon). On a store
        error the unwritten outcomes stay buffered and the error is raised.
        """
        if not self._finished:
            return False
        completions, failures, finished = self._completions, self._failures, self._finished
        self._completions, self._failures, self._finished = [], [], []
        try:
            written = await write_outcomes(
                self.store, self.worker_id, completions, failures, self.clock.now(), self.limits
            )
        except OutcomesPending as pending:
            self._keep(pending.completions, pending.failures, finished)
            unwritten = set(self.pending_ids())
            done = [item for item in finished if item[0].id not in unwritten]
            self._written(done, pending.written)
            raise pending.cause from None  # the store's own error, as callers expect
        except BaseException:
            self._keep(completions, failures, finished)
            raise
        self._written(finished, written)
        return any(f.retry_at is not None for f in failures)

    async def flush_safely(self) -> None:
        """``flush``, logging instead of raising (the worker is on its way out)."""
        try:
            await self.flush()
        except Exception:
            log.exception("worker %s could not write %d outcome(s)", self.worker_id, self.pending)

    def _keep(
        self, completions: list[Completion], failures: list[Failure], finished: list[Finished]
    ) -> None:
        """Put unwritten outcomes back in front of those buffered since."""
        ids = {o.job_id for o in completions} | {o.job_id for o in failures}
        self._completions[:0] = completions
        self._failures[:0] = failures
        self._finished[:0] = [item for item in finished if item[0].id in ids]

    def _written(self, finished: list[Finished], written: Written) -> None:
        """Account for outcomes the store has taken (or refused, for rescued jobs)."""
        if outcome_log.isEnabledFor(logging.INFO):
            log_outcomes(finished, written.replaced)
        self.progress.flushed(len(finished), written.processed, written.failed)
        for job_id in written.refused:
            log.warning(
                "worker %s: job %s is no longer held by this worker (rescued while it "
                "ran); the outcome of this attempt is dropped",
                self.worker_id,
                job_id,
            )
        if self.events.active:
            self._publish(finished, written.replaced)

    def _publish(self, finished: list[Finished], replaced: dict[str, Failure]) -> None:
        for job, outcome, duration in finished:
            status = Status.FAILED if job.id in replaced else _status(outcome)
            kind = EventKind.SUCCEEDED if status is Status.COMPLETED else EventKind.FAILED
            self.events.publish(
                JobEvent(kind, job.id, job.task_name, job.queue_name, status, duration)
            )


def _status(outcome: Outcome) -> Status:
    return Status(outcome.status) if isinstance(outcome, Failure) else Status.COMPLETED
