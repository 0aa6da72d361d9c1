"""The request and response bodies of the Jobs API, named as in its reference."""

from __future__ import annotations

from uno.jobs.api.dtos.common import MAX_PAGE_SIZE, ErrorDto, PriorityEnum, StatusEnum
from uno.jobs.api.dtos.jobs import (
    CancelJobDto,
    CreateJobDto,
    JobBaseDto,
    JobErrorDto,
    JobListDto,
    JobListQuery,
    JobStatsDto,
    JobViewDto,
    QueueCountsDto,
    RunSyncJobDto,
)
from uno.jobs.api.dtos.queues import QueueDto, QueueListDto
from uno.jobs.api.dtos.schedules import (
    CreateScheduleDto,
    ScheduleIntervalDto,
    ScheduleListDto,
    ScheduleStatusEnum,
    ScheduleViewDto,
    UpdateScheduleDto,
)
from uno.jobs.api.dtos.tasks import TaskInfoDto, TaskListDto

__all__ = [
    "MAX_PAGE_SIZE",
    "CancelJobDto",
    "CreateJobDto",
    "CreateScheduleDto",
    "ErrorDto",
    "JobBaseDto",
    "JobErrorDto",
    "JobListDto",
    "JobListQuery",
    "JobStatsDto",
    "JobViewDto",
    "PriorityEnum",
    "QueueCountsDto",
    "QueueDto",
    "QueueListDto",
    "RunSyncJobDto",
    "ScheduleIntervalDto",
    "ScheduleListDto",
    "ScheduleStatusEnum",
    "ScheduleViewDto",
    "StatusEnum",
    "TaskInfoDto",
    "TaskListDto",
    "UpdateScheduleDto",
]
