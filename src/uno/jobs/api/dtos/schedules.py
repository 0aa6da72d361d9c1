"""Schedule DTOs, named and shaped as in the Jobs API reference."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from uno.jobs.api.dtos.common import (
    PageDto,
    PriorityEnum,
    Seconds,
    UtcDateTime,
    page_fields,
)
from uno.jobs.schedules import Interval, Schedule
from uno.jobs.tasks import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_DELAY, Task

_DAYS_MAX = 36_500  # a hundred years: anything longer is a typo, not a schedule


class ScheduleStatusEnum(StrEnum):
    """An active schedule enqueues jobs; a paused one does not."""

    active = "active"
    paused = "paused"


class ScheduleIntervalDto(BaseModel):
    """A fixed period between runs; the parts add up and must exceed zero."""

    seconds: int = Field(default=0, ge=0, le=_DAYS_MAX * 86_400)
    minutes: int = Field(default=0, ge=0, le=_DAYS_MAX * 1_440)
    hours: int = Field(default=0, ge=0, le=_DAYS_MAX * 24)
    days: int = Field(default=0, ge=0, le=_DAYS_MAX)

    def to_domain(self) -> Interval:
        return Interval(
            days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds
        )

    @classmethod
    def from_domain(cls, interval: Interval | None) -> ScheduleIntervalDto | None:
        if interval is None:
            return None
        return cls(
            seconds=interval.seconds,
            minutes=interval.minutes,
            hours=interval.hours,
            days=interval.days,
        )


_CRON = Field(
    default=None, description="5-field cron expression (mutually exclusive with interval)"
)
_INTERVAL = Field(
    default=None, description="Interval between runs (mutually exclusive with cron_expression)"
)


class CreateScheduleDto(BaseModel):
    """A recurring job: exactly one of ``cron_expression`` and ``interval``."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "Daily Report",
                "task_name": "generate_report",
                "cron_expression": "0 0 * * *",
                "args": ["daily"],
                "kwargs": {"format": "pdf"},
                "queue_name": "reports",
                "priority": "normal",
                "tags": ["report", "daily"],
                "metadata": {"department": "accounting"},
                "max_retries": 3,
                "retry_delay": 60,
                "timeout": 600,
                "version": "1.0",
            }
        }
    )

    # Only the types are checked here: every bound is the domain's
    # (``uno.jobs.scheduler.spec``), answering 400 with a detail.
    name: str = Field(description="Name for the schedule")
    task_name: str = Field(description="Task to execute")
    cron_expression: str | None = _CRON
    interval: ScheduleIntervalDto | None = _INTERVAL
    timezone: str = Field(default="UTC", description="IANA time zone of the cron expression")
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    queue_name: str | None = None
    priority: PriorityEnum = PriorityEnum.normal
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    max_retries: int | None = None
    retry_delay: float | None = None
    timeout: float | None = None
    version: str | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> CreateScheduleDto:
        if (self.cron_expression is None) == (self.interval is None):
            raise ValueError("Give exactly one of cron_expression and interval")
        return self

    def to_options(self) -> dict[str, Any]:
        """Keyword arguments of ``ScheduleManager.create`` after name and task."""
        return {
            "cron_expression": self.cron_expression,
            "interval": self.interval.to_domain() if self.interval else None,
            "timezone": self.timezone,
            "args": self.args,
            "kwargs": self.kwargs,
            "queue_name": self.queue_name,
            "priority": self.priority.value,
            "tags": self.tags,
            "metadata": self.metadata,
            "max_retries": self.max_retries,
            "retry_delay": self.retry_delay,
            "timeout": self.timeout,
            "version": self.version,
        }


class UpdateScheduleDto(BaseModel):
    """The fields to change; fields left out keep their value.

    Setting ``cron_expression`` replaces an interval and the other way round;
    ``status`` pauses or resumes the schedule.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "Updated Daily Report",
                "cron_expression": "0 1 * * *",
                "args": ["daily"],
                "kwargs": {"format": "excel"},
                "priority": "high",
                "tags": ["report", "daily", "important"],
                "max_retries": 5,
                "status": "active",
            }
        }
    )

    name: str | None = None
    task_name: str | None = None
    cron_expression: str | None = _CRON
    interval: ScheduleIntervalDto | None = _INTERVAL
    timezone: str | None = None
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    queue_name: str | None = None
    priority: PriorityEnum | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    max_retries: int | None = None
    retry_delay: float | None = None
    timeout: float | None = None
    version: str | None = None
    status: ScheduleStatusEnum | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> UpdateScheduleDto:
        if self.cron_expression is not None and self.interval is not None:
            raise ValueError("Give cron_expression or interval, not both")
        return self

    def to_changes(self) -> dict[str, Any]:
        """The fields the request sets, as domain values for ``ScheduleManager.update``."""
        changes = self.model_dump(exclude_unset=True, exclude={"interval"})
        if "interval" in self.model_fields_set:
            changes["interval"] = self.interval.to_domain() if self.interval else None
        for key in ("priority", "status"):
            if changes.get(key) is not None:
                changes[key] = str(changes[key])
        return changes


class ScheduleViewDto(BaseModel):
    """A schedule as stored, with its last and next run."""

    id: str
    name: str
    task_name: str
    status: ScheduleStatusEnum
    cron_expression: str | None
    interval: ScheduleIntervalDto | None
    timezone: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue_name: str | None
    priority: PriorityEnum
    tags: list[str]
    metadata: dict[str, Any]
    max_retries: int = Field(description="The schedule's own, else its task's default")
    retry_delay: Seconds = Field(description="The schedule's own, else its task's default")
    timeout: Seconds | None
    last_run_at: UtcDateTime | None
    next_run_at: UtcDateTime | None
    created_at: UtcDateTime | None
    updated_at: UtcDateTime | None
    version: str | None

    @classmethod
    def from_domain(cls, schedule: Schedule, task: Task | None = None) -> ScheduleViewDto:
        """The view of ``schedule``; ``task`` gives the defaults its jobs get.

        Without the task (no longer registered) the defaults of any task are shown.
        """
        max_retries, retry_delay = schedule.max_retries, schedule.retry_delay
        if max_retries is None:
            max_retries = task.max_retries if task else DEFAULT_MAX_RETRIES
        if retry_delay is None:
            retry_delay = task.retry_delay if task else DEFAULT_RETRY_DELAY
        return cls(
            id=schedule.id,
            name=schedule.name,
            task_name=schedule.task_name,
            status=ScheduleStatusEnum(schedule.status.value),
            cron_expression=schedule.cron_expression,
            interval=ScheduleIntervalDto.from_domain(schedule.interval),
            timezone=schedule.timezone,
            args=schedule.args,
            kwargs=schedule.kwargs,
            queue_name=schedule.queue_name,
            priority=PriorityEnum(schedule.priority.value),
            tags=schedule.tags,
            metadata=schedule.metadata,
            max_retries=max_retries,
            retry_delay=retry_delay,
            timeout=schedule.timeout,
            last_run_at=schedule.last_run_at,
            next_run_at=schedule.next_run_at,
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
            version=schedule.version,
        )


class ScheduleListDto(PageDto):
    """One page of schedules."""

    items: list[ScheduleViewDto]

    @classmethod
    def from_page(
        cls,
        schedules: list[Schedule],
        total: int,
        limit: int,
        offset: int,
        task_of: Callable[[Schedule], Task | None] = lambda _: None,
    ) -> ScheduleListDto:
        return cls(
            items=[ScheduleViewDto.from_domain(s, task_of(s)) for s in schedules],
            **page_fields(total, limit, offset),
        )
