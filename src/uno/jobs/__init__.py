"""uno-jobs: background jobs for Python, with a REST API, schedules and a dashboard."""

from __future__ import annotations

from typing import Any

from uno.jobs.clock import Clock, ManualClock, SystemClock
from uno.jobs.context import JobContext
from uno.jobs.enqueue import JobRequest
from uno.jobs.errors import (
    Cancel,
    DuplicateJob,
    IllegalTransition,
    JobFailed,
    JobNotFound,
    JobsError,
    QueueNotFound,
    Retry,
    ScheduleNotFound,
    TaskNotFound,
    ValidationError,
    WaitTimeout,
)
from uno.jobs.jobs import Job, JobError, Priority, Status
from uno.jobs.retry import RetryPolicy
from uno.jobs.schedules import Interval, Schedule, ScheduleStatus
from uno.jobs.settings import Settings
from uno.jobs.system import JobSystem
from uno.jobs.tasks import Task, TaskRef, TaskRegistry

__all__ = [
    "Cancel",
    "Clock",
    "DuplicateJob",
    "IllegalTransition",
    "Interval",
    "Job",
    "JobContext",
    "JobError",
    "JobFailed",
    "JobNotFound",
    "JobRequest",
    "JobSystem",
    "JobsError",
    "ManualClock",
    "Priority",
    "QueueNotFound",
    "Retry",
    "RetryPolicy",
    "Schedule",
    "ScheduleNotFound",
    "ScheduleStatus",
    "Settings",
    "Status",
    "SystemClock",
    "Task",
    "TaskNotFound",
    "TaskRef",
    "TaskRegistry",
    "ValidationError",
    "WaitTimeout",
    "register_jobs_endpoints",
]


def register_jobs_endpoints(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Mount the Jobs REST API on a FastAPI app or router (see ``uno.jobs.api``)."""
    from uno.jobs.api import register_jobs_endpoints as register

    return register(*args, **kwargs)
