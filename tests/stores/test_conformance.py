"""The storage contract, job by job, on every backend.

After every store verb the WHOLE stored job (every field of ``Job``) must equal
what a small model of the state machine, written here from the domain, says it
should be: given the job before and the verb, the job after. The scenarios walk
every arrow of ``TRANSITIONS`` and the refusals beside them; a status change that
is not an arrow of ``TRANSITIONS`` fails at once, and the walk of all scenarios
must take every arrow, so the graph in ``jobs.py`` is the stores' real one.

Times come from the injected clock, which moves a second before every verb, so a
time written by the wrong verb shows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest

from helpers import make_job
from uno.jobs.clock import ManualClock
from uno.jobs.errors import IllegalTransition
from uno.jobs.jobs import (
    CANCELLABLE,
    HELD,
    RETRYABLE,
    TRANSITIONS,
    WAITING,
    Job,
    JobError,
    Status,
)
from uno.jobs.store.base import Completion, Failure, RescuedJob, Store

W = "worker-1"
INTRUDER = "worker-2"

#: How long a rescued worker has been silent, and the silence that counts as death.
SILENCE = timedelta(seconds=60)
RESCUE_AFTER = timedelta(seconds=30)

EVERY_EDGE = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


def worker_lost(worker_id: str) -> JobError:
    """The error a rescued running job records."""
    message = f"Worker {worker_id} stopped sending heartbeats while running the job"
    return JobError("WorkerLost", message, None)


class Harness:
    """One job in a queue of its own, its expected state, and the store verbs that
    move it, each followed by a comparison of the whole stored job with the model."""

    def __init__(self, store: Store, clock: ManualClock, queue: str) -> None:
        self.store = store
        self.clock = clock
        self.queue = queue
        self.job_id = ""
        self.expected: Job | None = None
        self.attempts = 0
        #: (before, after) of every status change the store made.
        self.edges: set[tuple[Status, Status]] = set()

    @property
    def job(self) -> Job:
        assert self.expected is not None, "insert a job first"
        return self.expected

    async def settle(self, after: Job) -> None:
        """The stored job must be ``after``; its status change must be an arrow."""
        before = self.job
        stored = await self.store.get_job(self.job_id)
        assert stored is not None
        if stored.status is not before.status:
            edge = (before.status, stored.status)
            assert stored.status in TRANSITIONS[before.status], f"{edge} is not in TRANSITIONS"
            self.edges.add(edge)
        assert asdict(stored) == asdict(after)
        self.expected = after

    # -- the verbs, each with its model -----------------------------------------
    async def insert(self, **fields: Any) -> None:
        await self.store.register_worker(W, "host", 1, None, self.clock.now())
        job = make_job(queue_name=self.queue, created_at=self.clock.now(), **fields)
        await self.store.insert_jobs([job])
        self.job_id, self.expected = job.id, job
        await self.settle(job)

    async def claim(self, *, start: bool, worker: str = W) -> None:
        """``fetch_jobs`` from the job's queue, starting what it claims or not."""
        before, now = self.job, self.clock.advance(1)
        got = await self.store.fetch_jobs(worker, [self.queue], 1, now, running=int(start))
        after = before
        if before.status in WAITING and before.scheduled_at is not None:
            if before.scheduled_at <= now and start:
                after = before.evolve(
                    status=Status.RUNNING, started_at=now, completed_at=None, worker_id=worker
                )
            elif before.scheduled_at <= now:
                after = before.evolve(status=Status.RESERVED, worker_id=worker)
        assert [asdict(j) for j in got] == ([] if after is before else [asdict(after)])
        await self.settle(after)

    async def start(self, worker: str = W) -> None:
        before, now = self.job, self.clock.advance(1)
        await self.store.start_jobs([self.job_id], worker, now)
        after = before
        if before.status is Status.RESERVED and before.worker_id == worker:
            after = before.evolve(status=Status.RUNNING, started_at=now, completed_at=None)
        await self.settle(after)

    def _holds_running(self, worker: str) -> bool:
        return self.job.status is Status.RUNNING and self.job.worker_id == worker

    async def complete(self, result: Any = None, worker: str = W) -> None:
        before, at = self.job, self.clock.advance(1)
        refused = await self.store.complete_jobs(worker, [Completion(self.job_id, result, at)])
        after = before
        if self._holds_running(worker):
            after = before.evolve(
                status=Status.COMPLETED, result=result, completed_at=at, error=None
            )
        assert refused == ([] if after is not before else [self.job_id])
        await self.settle(after)

    async def fail(
        self, status: Status = Status.FAILED, retry_in: float | None = None, worker: str = W
    ) -> None:
        """A failed attempt: ``retry_in`` seconds to the retry, or None for none."""
        before, at = self.job, self.clock.advance(1)
        self.attempts += 1
        error = JobError("ValueError", f"attempt {self.attempts}", "Traceback ...")
        retry_at = None if retry_in is None else at + timedelta(seconds=retry_in)
        failure = Failure(self.job_id, error, at, status=status, retry_at=retry_at)
        refused = await self.store.fail_jobs(worker, [failure])
        after = before
        if self._holds_running(worker) and retry_at is not None:
            after = before.evolve(
                status=Status.RETRYING,
                error=error,
                completed_at=None,
                scheduled_at=retry_at,
                retry_count=before.retry_count + 1,
                worker_id=None,
            )
        elif self._holds_running(worker):
            after = before.evolve(status=status, error=error, completed_at=at)
        assert refused == ([] if after is not before else [self.job_id])
        await self.settle(after)

    async def release(self, worker: str = W) -> None:
        """A polite stop hands back what the worker holds."""
        before = self.job
        self.clock.advance(1)
        await self.store.release_jobs(worker, [self.job_id])
        after = before
        if before.status in HELD and before.worker_id == worker:
            after = before.evolve(status=Status.PENDING, worker_id=None, started_at=None)
        await self.settle(after)

    async def cancel(self, reason: str | None = None) -> None:
        before, now = self.job, self.clock.advance(1)
        if before.status not in CANCELLABLE:
            with pytest.raises(IllegalTransition, match=before.status.value):
                await self.store.cancel_job(self.job_id, reason, now)
            await self.settle(before)
            return
        metadata = dict(before.metadata)
        if reason is not None:
            metadata["cancel_reason"] = reason
        after = before.evolve(
            status=Status.CANCELLED, completed_at=now, worker_id=None, metadata=metadata
        )
        assert asdict(await self.store.cancel_job(self.job_id, reason, now)) == asdict(after)
        await self.settle(after)

    async def retry(self) -> None:
        """A user's retry by hand."""
        before, now = self.job, self.clock.advance(1)
        if before.status not in RETRYABLE:
            with pytest.raises(IllegalTransition, match=before.status.value):
                await self.store.retry_job(self.job_id, now)
            await self.settle(before)
            return
        metadata = {k: v for k, v in before.metadata.items() if k != "cancel_reason"}
        after = before.evolve(
            status=Status.PENDING,
            scheduled_at=now,
            retry_count=0,
            error=None,
            result=None,
            started_at=None,
            completed_at=None,
            worker_id=None,
            metadata=metadata,
        )
        assert asdict(await self.store.retry_job(self.job_id, now)) == asdict(after)
        await self.settle(after)

    async def rescue(self) -> None:
        """The job's worker has been silent too long; another one rescues."""
        before, now = self.job, self.clock.advance(SILENCE.total_seconds())
        rescued = await self.store.rescue_jobs(now - RESCUE_AFTER, now)
        after = before
        if before.status is Status.RESERVED:
            after = before.evolve(status=Status.PENDING, worker_id=None, started_at=None)
        elif before.status is Status.RUNNING:
            assert before.worker_id is not None
            left = before.retry_count < before.max_retries
            after = before.evolve(
                status=Status.RETRYING if left else Status.FAILED,
                retry_count=before.retry_count + left,
                error=worker_lost(before.worker_id),
                completed_at=None if left else now,
                worker_id=None if left else before.worker_id,
            )
        mine = [r for r in rescued if r.job_id == self.job_id]
        assert mine == ([] if after is before else [RescuedJob(self.job_id, after.status)])
        await self.settle(after)


# -- scenarios: one job each ------------------------------------------------------

Scenario = Callable[[Harness], Awaitable[None]]


async def reserve_start_complete(h: Harness) -> None:
    await h.insert(args=[1], kwargs={"k": "v"}, tags=["t"], metadata={"m": 1}, timeout=5.0)
    await h.retry()  # refused: pending
    await h.claim(start=False)
    await h.start(worker=INTRUDER)  # refused: not its job
    await h.retry()  # refused: reserved
    await h.start()
    await h.complete({"answer": [42]}, worker=INTRUDER)  # refused
    await h.fail(worker=INTRUDER)  # refused
    await h.complete({"answer": [42]})
    await h.complete("again")  # refused: finished
    await h.cancel("too late")  # refused: completed
    await h.retry()  # refused: completed


async def claim_straight_into_running(h: Harness) -> None:
    await h.insert()
    await h.claim(start=True)
    await h.retry()  # refused: running
    await h.complete()


async def cancel_of_a_running_job_drops_its_outcome(h: Harness) -> None:
    """A user cancels a running job: its worker's outcome, reported later, is dropped."""
    await h.insert(max_retries=2)
    await h.claim(start=True)
    await h.cancel("stop it")
    await h.complete()  # refused: cancelled, no worker holds it
    await h.fail(retry_in=0)  # refused
    await h.retry()


async def fail_without_retries_then_retry_by_hand(h: Harness) -> None:
    await h.insert(max_retries=0)
    await h.claim(start=True)
    await h.fail(Status.FAILED)
    await h.cancel()  # refused: failed
    await h.retry()
    await h.claim(start=True)
    await h.complete("second time")


async def fail_with_retries_left_leaves_no_completed_at(h: Harness) -> None:
    """Row 1: a retrying job has no completed_at (SQLite used to keep the failure's)."""
    await h.insert(max_retries=2)
    await h.claim(start=True)
    await h.fail(retry_in=30)
    await h.claim(start=True)  # not due yet: nothing claimed
    await h.retry()  # refused: retrying
    h.clock.advance(30)
    await h.claim(start=True)
    await h.fail(retry_in=0)
    await h.claim(start=True)
    await h.fail()  # no retry left: the worker fails it for good


async def timeout_with_and_without_retries(h: Harness) -> None:
    await h.insert(max_retries=1)
    await h.claim(start=True)
    await h.fail(Status.TIMEOUT, retry_in=0)
    await h.claim(start=False)
    await h.start()
    await h.fail(Status.TIMEOUT)
    await h.cancel()  # refused: timeout
    await h.retry()


async def task_raises_cancel_then_retry_by_hand(h: Harness) -> None:
    await h.insert(max_retries=3, metadata={"keep": True})
    await h.claim(start=True)
    await h.fail(Status.CANCELLED)
    await h.cancel()  # refused: cancelled
    await h.retry()


async def retried_then_completed_keeps_no_stale_error(h: Harness) -> None:
    """Row 2: a completed job has no error (SQLite used to keep the failed attempt's)."""
    await h.insert(max_retries=1)
    await h.claim(start=True)
    await h.fail(retry_in=0)
    await h.claim(start=True)
    await h.complete("fine now")


async def complete_of_a_reserved_job_is_refused(h: Harness) -> None:
    """Row 3: a reserved job has not started, so no outcome of it is recorded
    (PostgreSQL used to complete it)."""
    await h.insert()
    await h.claim(start=False)
    await h.complete("never ran")
    await h.fail()
    await h.start()
    await h.complete("ran")


async def cancel_of_a_reserved_job_clears_its_worker(h: Harness) -> None:
    """Row 4: nothing holds a cancelled job (PostgreSQL used to keep the worker)."""
    await h.insert()
    await h.claim(start=False)
    await h.cancel("not needed")
    await h.start()  # refused: cancelled
    await h.retry()
    await h.cancel(None)


async def cancel_of_a_retrying_job(h: Harness) -> None:
    await h.insert(max_retries=1)
    await h.claim(start=True)
    await h.fail(retry_in=60)
    await h.cancel("stop retrying")
    await h.retry()


async def rescue_of_a_running_job_with_retries_left(h: Harness) -> None:
    """Row 5: a rescued job that will run again has no completed_at (SQLite used to
    set one)."""
    await h.insert(max_retries=1)
    await h.claim(start=True)
    await h.rescue()
    await h.claim(start=True)
    await h.rescue()  # no retry left: failed


async def rescue_of_a_reserved_retry(h: Harness) -> None:
    """A reserved job goes back as it came, but without the last attempt's start."""
    await h.insert(max_retries=1)
    await h.claim(start=True)
    await h.fail(retry_in=0)
    await h.claim(start=False)
    await h.rescue()
    await h.claim(start=True)
    await h.complete()


async def hand_back_on_stop(h: Harness) -> None:
    await h.insert(retry_count=1, max_retries=3)
    await h.claim(start=False)
    await h.release(worker=INTRUDER)  # refused: not its job
    await h.release()
    await h.claim(start=True)
    await h.release()
    await h.release()  # nothing held: nothing happens
    await h.claim(start=True)
    await h.complete()


SCENARIOS: dict[str, Scenario] = {
    scenario.__name__: scenario
    for scenario in (
        reserve_start_complete,
        claim_straight_into_running,
        fail_without_retries_then_retry_by_hand,
        fail_with_retries_left_leaves_no_completed_at,
        timeout_with_and_without_retries,
        task_raises_cancel_then_retry_by_hand,
        retried_then_completed_keeps_no_stale_error,
        complete_of_a_reserved_job_is_refused,
        cancel_of_a_reserved_job_clears_its_worker,
        cancel_of_a_retrying_job,
        cancel_of_a_running_job_drops_its_outcome,
        rescue_of_a_running_job_with_retries_left,
        rescue_of_a_reserved_retry,
        hand_back_on_stop,
    )
}


@pytest.mark.parametrize("name", SCENARIOS)
async def test_every_verb_leaves_the_job_the_model_expects(
    store: Store, clock: ManualClock, name: str
) -> None:
    await SCENARIOS[name](Harness(store, clock, queue=name))


async def test_the_scenarios_walk_every_arrow_of_the_state_machine(
    store: Store, clock: ManualClock
) -> None:
    """Together the scenarios make every status change TRANSITIONS allows, and
    (``Harness.settle``) no other."""
    edges: set[tuple[Status, Status]] = set()
    for name, scenario in SCENARIOS.items():
        harness = Harness(store, clock, queue=name)
        await scenario(harness)
        edges |= harness.edges
    assert edges == EVERY_EDGE
