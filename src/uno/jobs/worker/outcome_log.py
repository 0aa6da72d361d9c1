"""One log line per attempt's outcome, as an operator reads them in a worker's
output: task, id, queue, attempt and duration; a failure adds its error type and
message (the traceback at DEBUG, and in the job's attempt history).

The lines of one flush are logged together once the store has taken them, which
lets ``uno.jobs.logs`` write them without a record each (``log_lines``): a worker
writes one a job, so their cost is the worker's cost. The fields also travel as
``record.job_outcome`` (JSON logs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from uno.jobs.jobs import Job, Status
from uno.jobs.logs import Fields, Lines, log_lines
from uno.jobs.store import Completion, Failure

#: Its own logger, so that it can be turned down
#: (``logging.getLogger("uno.jobs.worker.outcomes").setLevel(...)``).
outcome_log = logging.getLogger("uno.jobs.worker.outcomes")

Outcome = Completion | Failure
#: A job, the outcome of its attempt and how long the attempt ran.
Finished = tuple[Job, Outcome, float]


def log_outcomes(finished: Sequence[Finished], replaced: dict[str, Failure]) -> None:
    """One INFO line per outcome, once written (an outcome the store could not take
    is logged as the failure written instead)."""
    if replaced:
        finished = [(job, replaced.get(job.id, o), d) for job, o, d in finished]
    log_lines(outcome_log, logging.INFO, Lines(finished, outcome_message, outcome_fields))
    if outcome_log.isEnabledFor(logging.DEBUG):
        for job, outcome, _ in finished:
            if isinstance(outcome, Failure) and outcome.error.traceback:
                outcome_log.debug("job %s traceback:\n%s", job.id, outcome.error.traceback)


def log_cancelled(job: Job, duration: float) -> None:
    """The line of a running job stopped by its cancellation (no outcome is written:
    the cancel already settled the job)."""
    outcome_log.info(
        "job cancelled while running: %s",
        _head(job, duration),
        extra={"job_outcome": {**_head_fields(job, duration), "outcome": "cancelled"}},
    )


def outcome_message(finished: Finished) -> str:
    """The line of one outcome."""
    job, outcome, duration = finished
    head = _head(job, duration)
    if type(outcome) is Completion:
        return f"job completed: {head}"
    assert isinstance(outcome, Failure)
    error = outcome.error
    return f"job {_outcome_name(outcome)}: {head} error={error.type}: {error.message}"


def outcome_fields(finished: Finished) -> Fields:
    """The fields of one outcome's line (JSON keys, ``record.job_outcome``)."""
    job, outcome, duration = finished
    fields = _head_fields(job, duration)
    if type(outcome) is Completion:
        fields["outcome"] = "completed"
        return fields
    assert isinstance(outcome, Failure)
    error = outcome.error
    fields.update(outcome=_outcome_name(outcome), error_type=error.type, error=error.message)
    return fields


def _head(job: Job, duration: float) -> str:
    return (
        f"task={job.task_name} id={job.id} queue={job.queue_name} "
        f"attempt={job.retry_count + 1} duration={duration:.3f}s"
    )


def _head_fields(job: Job, duration: float) -> Fields:
    return {
        "task": job.task_name,
        "job_id": job.id,
        "queue": job.queue_name,
        "attempt": job.retry_count + 1,
        "duration": round(duration, 6),
    }


def _outcome_name(failure: Failure) -> str:
    return "retrying" if failure.retry_at is not None else Status(failure.status).value
