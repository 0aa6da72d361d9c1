"""Every error uno-jobs raises, under one base class.

The API maps these to HTTP status codes in one place (``api/errors.py``), so the
domain never thinks about HTTP.
"""

from __future__ import annotations


class JobsError(Exception):
    """Base class of every uno-jobs error."""


class ValidationError(JobsError, ValueError):
    """Input that can never be valid: a bad priority, a negative timeout, bad JSON."""


class TaskNotFound(ValidationError):
    """No task is registered under that name (or that version)."""


class JobNotFound(JobsError, LookupError):
    """No job has that id."""


class ScheduleNotFound(JobsError, LookupError):
    """No schedule has that id."""


class QueueNotFound(JobsError, LookupError):
    """No queue of that name is known (no task, job or setting names it)."""


class WorkerNotFound(JobsError, LookupError):
    """No worker is kept under that id (never registered, or pruned since it went)."""


class DuplicateJob(JobsError):
    """A job with this id exists already."""


class IllegalTransition(JobsError):
    """The job's current status does not allow the requested change."""

    def __init__(self, job_id: str, current: str, target: str, action: str | None = None):
        self.job_id = job_id
        self.current = current
        self.target = target
        what = action or f"move to {target}"
        super().__init__(f"Cannot {what} job {job_id}: it is {current}")


class JobFailed(JobsError):
    """Raised by enqueue-and-wait when the job ended failed, timed out or cancelled."""

    def __init__(self, job_id: str, status: str, error: object | None = None):
        self.job_id = job_id
        self.status = status
        self.error = error
        super().__init__(f"Job {job_id} ended {status}: {error}")


class WaitTimeout(JobsError, TimeoutError):
    """Enqueue-and-wait gave up before the job finished."""

    def __init__(self, job_id: str, waited: float):
        self.job_id = job_id
        super().__init__(f"Job {job_id} did not finish within {waited:g} seconds")


class WaitAbandoned(JobsError):
    """A wait ended before its job finished: its caller left or the process is stopping.

    Only the wait ends: the job itself stays stored and runs, or goes on running.
    """

    def __init__(self, job_id: str, reason: str):
        self.job_id = job_id
        self.reason = reason
        super().__init__(f"Stopped waiting for job {job_id}: {reason}; the job itself goes on")


class QueuePaused(JobsError):
    """Refused to wait for a job on a paused queue: no worker would run it until resumed."""

    def __init__(self, queue_name: str):
        self.queue_name = queue_name
        super().__init__(
            f"Queue {queue_name!r} is paused: its jobs wait until it is resumed, "
            "so a job run there now could not finish"
        )


class StoreUnavailable(JobsError):
    """The database cannot be reached right now."""


class StorageFull(StoreUnavailable):
    """The database has no room to write (disk or size limit full)."""


class SecretNotFound(JobsError):
    """No JWT secret is configured and the data folder holds none to sign with."""


# Control-flow signals a task may raise; they are not failures of the system.


class Retry(JobsError):
    """Raised by a task to ask for another attempt, optionally after ``delay`` seconds."""

    def __init__(self, delay: float | None = None, reason: str = "retry requested"):
        self.delay = delay
        super().__init__(reason)


class Cancel(JobsError):
    """Raised by a task to end its own job as cancelled, without retries."""
