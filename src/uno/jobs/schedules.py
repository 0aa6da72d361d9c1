"""The Schedule: a recurring rule (cron or interval) that turns into jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from uno.jobs.errors import ValidationError
from uno.jobs.jobs import Priority


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Interval:
    """A fixed period between occurrences."""

    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    def as_timedelta(self) -> timedelta:
        return timedelta(
            days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds
        )

    @property
    def total_seconds(self) -> float:
        return self.as_timedelta().total_seconds()

    def validate(self) -> None:
        if self.total_seconds <= 0:
            raise ValidationError("interval must be longer than zero seconds")

    def to_dict(self) -> dict[str, int]:
        return {
            "days": self.days,
            "hours": self.hours,
            "minutes": self.minutes,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Interval | None:
        if data is None:
            return None
        return cls(**{k: int(data.get(k) or 0) for k in ("days", "hours", "minutes", "seconds")})


def new_schedule_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class Schedule:
    """A recurring job definition. Exactly one of ``cron_expression`` and ``interval``."""

    name: str
    task_name: str
    id: str = field(default_factory=new_schedule_id)
    status: ScheduleStatus = ScheduleStatus.ACTIVE
    cron_expression: str | None = None
    interval: Interval | None = None
    timezone: str = "UTC"
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue_name: str | None = None
    priority: Priority = Priority.NORMAL
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    max_retries: int | None = None
    retry_delay: float | None = None
    timeout: float | None = None
    version: str | None = None
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: Bumped by the store at every change of the definition or status (never by
    #: a firing), so a scheduler writes only for the schedule it read.
    revision: int = 0

    def evolve(self, **changes: Any) -> Schedule:
        return replace(self, **changes)
