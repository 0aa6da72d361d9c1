"""Job DTOs, named and shaped as in the Jobs API reference."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from uno.jobs.api.dtos.common import (
    MAX_OFFSET,
    MAX_PAGE_SIZE,
    PageDto,
    PriorityEnum,
    Seconds,
    StatusEnum,
    UtcDateTime,
    page_fields,
)
from uno.jobs.jobs import Job, JobError, Priority, Status
from uno.jobs.queries import JobFilter, JobOrderField, JobStats

OrderDir = Literal["asc", "desc"]


class JobErrorDto(BaseModel):
    """What went wrong in the job's last failed attempt."""

    type: str
    message: str
    traceback: str | None = None

    @classmethod
    def from_domain(cls, error: JobError | None) -> JobErrorDto | None:
        if error is None:
            return None
        return cls(type=error.type, message=error.message, traceback=error.traceback)


class JobBaseDto(BaseModel):
    """The fields every job request shares."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "task_name": "process_data",
                "args": [42, "test"],
                "kwargs": {"format": "json"},
                "queue_name": "default",
                "priority": "normal",
            }
        }
    )

    task_name: str = Field(description="Task to execute")
    args: list[Any] = Field(default_factory=list, description="Positional arguments for task")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for task")
    queue_name: str | None = Field(default=None, description="Queue (the task's by default)")
    priority: PriorityEnum = Field(default=PriorityEnum.normal, description="Job priority level")


class CreateJobDto(JobBaseDto):
    """A job to enqueue; unset fields come from the task's definition."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "task_name": "process_data",
                "args": [42, "test"],
                "kwargs": {"format": "json"},
                "queue_name": "default",
                "priority": "normal",
                "scheduled_at": "2023-06-15T10:00:00Z",
                "max_retries": 3,
                "retry_delay": 60,
                "timeout": 300,
                "tags": ["data", "processing"],
                "metadata": {"source": "api"},
                "version": "1.0",
                "job_id": "custom-job-id",
            }
        }
    )

    scheduled_at: UtcDateTime | None = Field(
        default=None, description="When to execute the job (None for immediate); naive is UTC"
    )
    # Only the types are checked here: every bound (``uno.jobs.limits``, which can be
    # configured) is the domain's (``uno.jobs.enqueue``), answering 400 with a detail.
    max_retries: int | None = Field(
        default=None, description="Maximum retry attempts (0 or more, at most the server's limit)"
    )
    retry_delay: float | None = Field(
        default=None,
        description="Delay between retries in seconds (0 or more, at most the server's limit)",
    )
    timeout: float | None = Field(
        default=None, description="Timeout in seconds (more than 0, at most the server's limit)"
    )
    tags: list[str] = Field(default_factory=list, description="Tags for categorization")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Additional metadata")
    version: str | None = Field(default=None, description="Task version")
    job_id: str | None = Field(default=None, description="Job id (generated if not given)")

    def to_options(self) -> dict[str, Any]:
        """Keyword options of ``JobSystem.enqueue`` (the fields of ``JobRequest``)."""
        return dict(
            queue_name=self.queue_name,
            priority=self.priority.value,
            scheduled_at=self.scheduled_at,
            max_retries=self.max_retries,
            retry_delay=self.retry_delay,
            timeout=self.timeout,
            tags=self.tags,
            metadata=self.metadata,
            version=self.version,
            job_id=self.job_id,
        )


class RunSyncJobDto(JobBaseDto):
    """A job to run now and wait for: the answer is the task's return value."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "task_name": "process_data",
                "args": [42, "test"],
                "kwargs": {"format": "json"},
                "queue_name": "default",
                "priority": "normal",
                "timeout": 300,
                "metadata": {"source": "api"},
                "version": "1.0",
            }
        }
    )

    timeout: float | None = Field(default=None, description="Seconds to wait (the task's default)")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Additional metadata")
    version: str | None = Field(default=None, description="Task version")

    def to_options(self) -> dict[str, Any]:
        """Keyword options of ``JobSystem.run``."""
        return dict(
            queue_name=self.queue_name,
            priority=self.priority.value,
            timeout=self.timeout,
            metadata=self.metadata,
            version=self.version,
        )


class CancelJobDto(BaseModel):
    """Why the job is cancelled; shown afterwards as ``metadata.cancel_reason``."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"reason": "User-initiated cancellation"}}
    )

    reason: str | None = Field(
        default=None, description="Free text, at most the server's limit (4096 characters)"
    )


class JobViewDto(BaseModel):
    """A job as stored, with its result or error and its duration."""

    id: str
    task_name: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue_name: str
    priority: PriorityEnum
    status: StatusEnum
    scheduled_at: UtcDateTime | None
    created_at: UtcDateTime | None
    started_at: UtcDateTime | None
    completed_at: UtcDateTime | None
    result: Any = None
    error: JobErrorDto | None
    retry_count: int
    max_retries: int
    retry_delay: Seconds
    tags: list[str]
    metadata: dict[str, Any]
    worker_id: str | None
    timeout: Seconds | None
    version: str | None
    duration: float | None = Field(description="Seconds between start and end of execution")

    @classmethod
    def from_domain(cls, job: Job) -> JobViewDto:
        return cls(
            id=job.id,
            task_name=job.task_name,
            args=job.args,
            kwargs=job.kwargs,
            queue_name=job.queue_name,
            priority=PriorityEnum(job.priority.value),
            status=StatusEnum(job.status.value),
            scheduled_at=job.scheduled_at,
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            result=job.result,
            error=JobErrorDto.from_domain(job.error),
            retry_count=job.retry_count,
            max_retries=job.max_retries,
            retry_delay=job.retry_delay,
            tags=job.tags,
            metadata=job.metadata,
            worker_id=job.worker_id,
            timeout=job.timeout,
            version=job.version,
            duration=job.duration,
        )


class JobListDto(PageDto):
    """One page of jobs."""

    items: list[JobViewDto]

    @classmethod
    def from_page(cls, jobs: list[Job], total: int, limit: int, offset: int) -> JobListDto:
        return cls(
            items=[JobViewDto.from_domain(j) for j in jobs], **page_fields(total, limit, offset)
        )


class JobListQuery(BaseModel):
    """The query parameters of List Jobs; ``status`` and ``tags`` may repeat."""

    queue_name: str | None = Field(default=None, description="Filter by queue name")
    status: list[StatusEnum] | None = Field(
        default=None, description="Filter by status (repeatable)"
    )
    priority: PriorityEnum | None = Field(default=None, description="Filter by priority level")
    tags: list[str] | None = Field(default=None, description="Jobs having all these tags")
    worker_id: str | None = Field(default=None, description="Filter by worker ID")
    task_name: str | None = Field(default=None, description="Filter by task name")
    limit: int = Field(default=100, ge=1, le=MAX_PAGE_SIZE, description="Page size")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="Jobs to skip")
    order_by: JobOrderField = Field(default="created_at", description="Field to order by")
    order_dir: OrderDir = Field(default="desc", description="Order direction")
    created_after: UtcDateTime | None = Field(
        default=None, description="Jobs created at or after this time"
    )
    created_before: UtcDateTime | None = Field(
        default=None, description="Jobs created before this time"
    )

    def to_filter(self) -> JobFilter:
        """The store's filter for these parameters."""
        return JobFilter(
            queue_name=self.queue_name,
            statuses=tuple(Status(s.value) for s in self.status or ()),
            priority=Priority(self.priority.value) if self.priority else None,
            tags=tuple(self.tags or ()),
            worker_id=self.worker_id,
            task_name=self.task_name,
            limit=self.limit,
            offset=self.offset,
            order_by=self.order_by,
            order_dir=self.order_dir,
            created_after=self.created_after,
            created_before=self.created_before,
        )


class QueueCountsDto(BaseModel):
    total_jobs: int
    pending_jobs: int


class JobStatsDto(BaseModel):
    """Counts and averages over every stored job.

    ``pending_jobs`` counts waiting jobs (pending, retrying), ``running_jobs`` held
    ones (reserved, running), ``failed_jobs`` failed and timed-out ones.
    ``avg_wait_time`` is the mean, over started jobs, of started_at minus the moment
    that attempt became due (never negative: a job waiting for its retry is measured
    on the attempt that ran), and ``avg_run_time`` the mean of completed_at -
    started_at over finished jobs, in seconds.
    """

    total_jobs: int
    pending_jobs: int
    running_jobs: int
    completed_jobs: int
    failed_jobs: int
    cancelled_jobs: int
    avg_wait_time: float | None
    avg_run_time: float | None
    by_queue: dict[str, QueueCountsDto]
    by_priority: dict[str, int]
    by_status: dict[str, int]

    @classmethod
    def from_domain(cls, stats: JobStats) -> JobStatsDto:
        return cls(
            total_jobs=stats.total_jobs,
            pending_jobs=stats.pending_jobs,
            running_jobs=stats.running_jobs,
            completed_jobs=stats.completed_jobs,
            failed_jobs=stats.failed_jobs,
            cancelled_jobs=stats.cancelled_jobs,
            avg_wait_time=stats.avg_wait_time,
            avg_run_time=stats.avg_run_time,
            by_queue={
                name: QueueCountsDto(
                    total_jobs=counts.get("total_jobs", 0),
                    pending_jobs=counts.get("pending_jobs", 0),
                )
                for name, counts in stats.by_queue.items()
            },
            by_priority=dict(stats.by_priority),
            by_status=dict(stats.by_status),
        )
