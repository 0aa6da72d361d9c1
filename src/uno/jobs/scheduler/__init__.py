"""Schedules into jobs: occurrences of cron and interval rules, the scheduler loop,
the schedule manager and periodic maintenance."""

from __future__ import annotations

from uno.jobs.scheduler.loop import Scheduler
from uno.jobs.scheduler.maintenance import Maintenance
from uno.jobs.scheduler.manager import ScheduleManager
from uno.jobs.scheduler.occurrences import (
    CronRule,
    IntervalRule,
    latest_occurrence,
    next_occurrence,
    rule_of,
)

__all__ = [
    "CronRule",
    "IntervalRule",
    "Maintenance",
    "ScheduleManager",
    "Scheduler",
    "latest_occurrence",
    "next_occurrence",
    "rule_of",
]
