"""The job state machine in code matches the one the docs draw, and the stores move
jobs along exactly its arrows."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from uno.jobs.errors import IllegalTransition
from uno.jobs.jobs import (
    CANCELLABLE,
    FAILURE_ENDS,
    FINISHED,
    HELD,
    RETRYABLE,
    TRANSITIONS,
    WAITING,
    Job,
    JobError,
    Status,
    can_transition,
    check_transition,
)
from uno.jobs.store.base import Completion, Failure, Store


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(Status)


def test_completed_is_terminal() -> None:
    assert TRANSITIONS[Status.COMPLETED] == frozenset()


@pytest.mark.parametrize("status", sorted(CANCELLABLE))
def test_not_started_jobs_can_be_cancelled(status: Status) -> None:
    assert can_transition(status, Status.CANCELLED)


@pytest.mark.parametrize("status", sorted(RETRYABLE))
def test_failed_jobs_can_be_retried_by_hand(status: Status) -> None:
    assert can_transition(status, Status.PENDING)


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.PENDING, Status.RETRYING])
def test_illegal_transitions_raise(status: Status) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(
            "job-1", status, Status.COMPLETED if status != Status.COMPLETED else Status.RUNNING
        )
    assert "job-1" in str(info.value)
    assert status.value in str(info.value)


def test_finished_jobs_never_run_again_without_a_manual_retry() -> None:
    for status in FINISHED:
        assert not can_transition(status, Status.RUNNING)
        assert not can_transition(status, Status.RESERVED)


def test_only_waiting_or_reserved_jobs_start_running() -> None:
    sources = {s for s, targets in TRANSITIONS.items() if Status.RUNNING in targets}
    assert sources == {Status.PENDING, Status.RETRYING, Status.RESERVED}


def _sources(target: Status) -> set[Status]:
    return {status for status, targets in TRANSITIONS.items() if target in targets}


def test_the_sets_the_stores_use_are_read_off_the_arrows() -> None:
    """The stores' SQL tests against these sets; they must say what the graph says."""
    assert _sources(Status.RESERVED) == WAITING  # fetch claims waiting jobs
    assert _sources(Status.PENDING) == HELD | RETRYABLE  # hand-back, or a retry by hand
    assert _sources(Status.CANCELLED) - {Status.RUNNING} == CANCELLABLE  # running: Cancel only
    assert set(Status) - WAITING - HELD == FINISHED  # no claim, no worker
    assert (TRANSITIONS[Status.RUNNING] & FINISHED) - {Status.COMPLETED} == FAILURE_ENDS


class TransitionLog:
    """The edges a store was seen to take: each is the status read back before and
    after one store verb, never written down by hand."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.edges: set[tuple[Status, Status]] = set()

    async def status(self, job_id: str) -> Status:
        job = await self.store.get_job(job_id)
        assert job is not None
        return job.status

    async def step(self, job_id: str, verb: Awaitable[Any]) -> Status:
        """Run one store verb and record the status change of ``job_id`` it made."""
        before = await self.status(job_id)
        await verb
        after = await self.status(job_id)
        assert after != before, f"{before} did not move"
        assert after in TRANSITIONS[before], f"{before} -> {after} is not in TRANSITIONS"
        self.edges.add((before, after))
        return after


async def test_every_transition_of_the_state_machine(store: Store, make_job: Any) -> None:
    """Each of the 18 arrows, taken by one real store verb on one job at a time."""
    log = TransitionLog(store)
    now = make_job().created_at
    error = JobError(type="RuntimeError", message="no")

    async def new_job() -> Job:
        job = make_job()
        await store.insert_jobs([job])
        return job

    async def fetch(running: int = 0) -> None:
        await store.fetch_jobs("w1", None, 1, now, running=running)

    async def fail(job_id: str, status: Status, retry: bool = False) -> None:
        failure = Failure(job_id, error, now, status, retry_at=now if retry else None)
        assert await store.fail_jobs("w1", [failure]) == []

    async def complete(job_id: str) -> None:
        assert await store.complete_jobs("w1", [Completion(job_id, "ok", now)]) == []

    job = await new_job()
    await log.step(job.id, fetch())  # pending -> reserved
    await log.step(job.id, store.release_jobs("w1", [job.id]))  # reserved -> pending
    await log.step(job.id, fetch(running=1))  # pending -> running
    await log.step(job.id, store.release_jobs("w1", [job.id]))  # running -> pending
    await log.step(job.id, fetch())
    await log.step(job.id, store.start_jobs([job.id], "w1", now))  # reserved -> running
    await log.step(job.id, complete(job.id))  # running -> completed

    for ending in sorted(FAILURE_ENDS):  # running -> failed / timeout / cancelled -> pending
        job = await new_job()
        await log.step(job.id, fetch(running=1))
        assert await log.step(job.id, fail(job.id, ending)) == ending
        await log.step(job.id, store.retry_job(job.id, now))
        await log.step(job.id, store.cancel_job(job.id, "done with it", now))

    job = await new_job()  # running -> retrying -> reserved | running | cancelled
    await log.step(job.id, fetch(running=1))
    await log.step(job.id, fail(job.id, Status.FAILED, retry=True))
    await log.step(job.id, fetch())
    await log.step(job.id, store.release_jobs("w1", [job.id]))
    await log.step(job.id, fetch(running=1))
    await log.step(job.id, fail(job.id, Status.FAILED, retry=True))
    await log.step(job.id, fetch(running=1))
    await log.step(job.id, fail(job.id, Status.FAILED, retry=True))
    await log.step(job.id, store.cancel_job(job.id, None, now))

    job = await new_job()  # reserved -> cancelled
    await log.step(job.id, fetch())
    await log.step(job.id, store.cancel_job(job.id, None, now))

    every_edge = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert log.edges == every_edge, f"never taken: {sorted(every_edge - log.edges)}"


async def test_the_stores_refuse_an_arrow_the_machine_lacks(store: Store, make_job: Any) -> None:
    """The log above could only miss arrows; this checks a store says no off the graph."""
    job = make_job()
    await store.insert_jobs([job])
    await store.fetch_jobs("w1", None, 1, job.created_at, running=1)
    await store.complete_jobs("w1", [Completion(job.id, "ok", job.created_at)])
    with pytest.raises(IllegalTransition):
        await store.cancel_job(job.id, None, job.created_at)
    with pytest.raises(IllegalTransition):
        await store.retry_job(job.id, job.created_at)
    assert await TransitionLog(store).status(job.id) == Status.COMPLETED
