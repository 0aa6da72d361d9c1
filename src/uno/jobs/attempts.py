"""What a job's attempts leave behind: their history, and the progress it reports.

The reference's job fields say only how the last attempt ended. Operators also
need to know what failed before a success, on which worker, and how far a long
job has got: these records are kept beside the job, written by the same store
verbs that end an attempt (fail, rescue, cancel), and shown in the job view as
additional fields.

A success is not written as a row: it is the job's last attempt, and the job's own
row already says when it started and ended and on which worker
(``with_completion``). Most jobs succeed at once, so the busiest path of the
worker (claim, complete) writes nothing beside the job, as River keeps only the
errors of its attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from uno.jobs.errors import ValidationError
from uno.jobs.jobs import Job, JobError, Status
from uno.jobs.limits import DEFAULT_LIMITS, Limits, clip_text


class Outcome(StrEnum):
    """How one attempt ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    #: Ended by a user's cancel or by the task's own ``Cancel``.
    CANCELLED = "cancelled"
    #: Its worker stopped sending heartbeats while it ran (error type ``WorkerLost``).
    LOST = "lost"


#: The outcome of a failed attempt by the status it asked for: a failure followed by
#: a retry (status ``retrying``, or any other) counts as failed, unless it timed out.
_FAILURE_OUTCOMES = {
    "timeout": Outcome.TIMEOUT,
    "cancelled": Outcome.CANCELLED,
}
#: The error type of an attempt the worker stopped at its timeout (``worker.execute``).
TIMED_OUT = "JobTimedOut"


def failure_outcome(status: str, error_type: str | None = None) -> Outcome:
    """How a failed attempt that asked for ``status`` ended (see ``store.Failure``):
    a timed-out attempt is ``timeout`` even when a retry follows."""
    if error_type == TIMED_OUT:
        return Outcome.TIMEOUT
    return _FAILURE_OUTCOMES.get(status, Outcome.FAILED)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One ended attempt of a job; ``number`` counts from 1 over the job's life."""

    number: int
    worker_id: str | None
    started_at: datetime | None
    finished_at: datetime
    outcome: Outcome
    error: JobError | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a running job says it is: a fraction in [0, 1] and/or a message."""

    fraction: float | None
    message: str | None
    updated_at: datetime


def check_progress(
    fraction: float | None, message: str | None, limits: Limits = DEFAULT_LIMITS
) -> tuple[float | None, str | None]:
    """The progress a task reports, checked: a fraction within [0, 1], a message of
    cut to ``max_progress_chars`` (a task's report is never refused for its length).
    Raises ``ValidationError`` for a fraction out of range or a message not a string."""
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise ValidationError("progress fraction must be a number between 0 and 1")
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValidationError(f"progress fraction must be between 0 and 1, got {fraction}")
    if message is not None:
        if not isinstance(message, str):
            raise ValidationError(
                f"progress message must be a string, got {type(message).__name__}"
            )
        message = clip_text(message, limits.max_progress_chars)
    return fraction, message


def with_completion(recorded: list[Attempt], job: Job | None, kept: int) -> list[Attempt]:
    """A job's history as shown: the recorded attempts (oldest first), then, for a
    completed job, its successful attempt read from the job's own row; the last
    ``kept`` of them."""
    if job is not None and job.status is Status.COMPLETED and job.completed_at is not None:
        number = (recorded[-1].number if recorded else 0) + 1
        success = Attempt(
            number, job.worker_id, job.started_at, job.completed_at, Outcome.COMPLETED
        )
        recorded = [*recorded, success]
    return recorded[-max(1, kept) :]
