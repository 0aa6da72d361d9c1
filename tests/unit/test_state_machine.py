"""The job state machine in code matches the one the docs draw."""

from __future__ import annotations

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
    Status,
    can_transition,
    check_transition,
)


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
    assert _sources(Status.CANCELLED) == CANCELLABLE  # a user may cancel a running job too
    assert set(Status) - WAITING - HELD == FINISHED  # no claim, no worker
    assert (TRANSITIONS[Status.RUNNING] & FINISHED) - {Status.COMPLETED} == FAILURE_ENDS
