"""Bodies of the console's endpoints: bulk actions, the overview, wait reasons, session.

Additions beyond the Jobs API reference (see docs/api.md and docs/console.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from uno.jobs.api.dtos.common import PriorityEnum, StatusEnum, UtcDateTime
from uno.jobs.api.dtos.jobs import JobStatsDto
from uno.jobs.bulk import BulkOutcome
from uno.jobs.console import MAX_CHARTED_WORKERS, Overview, WaitReason
from uno.jobs.jobs import Priority, Status
from uno.jobs.queries import JobFilter


class BulkFilterDto(BaseModel):
    """The jobs a bulk action applies to: the filters of List Jobs, all optional
    (none given: every job the action applies to)."""

    queue_name: str | None = None
    status: list[StatusEnum] | None = Field(
        default=None, description="Any of these (intersected with those the action applies to)"
    )
    priority: PriorityEnum | None = None
    tags: list[str] | None = Field(default=None, description="Jobs having all these tags")
    worker_id: str | None = None
    task_name: str | None = None
    created_after: UtcDateTime | None = None
    created_before: UtcDateTime | None = None

    def to_filter(self) -> JobFilter:
        return JobFilter(
            queue_name=self.queue_name,
            statuses=tuple(Status(s.value) for s in self.status or ()),
            priority=Priority(self.priority.value) if self.priority else None,
            tags=tuple(self.tags or ()),
            worker_id=self.worker_id,
            task_name=self.task_name,
            created_after=self.created_after,
            created_before=self.created_before,
        )


class BulkRetryDto(BaseModel):
    filter: BulkFilterDto = Field(default_factory=BulkFilterDto)
    dry_run: bool = Field(default=False, description="Only count the jobs it would retry")


class BulkCancelDto(BulkRetryDto):
    reason: str | None = Field(default=None, description="Kept on each job, as for one cancel")


class BulkResultDto(BaseModel):
    """``matched``: jobs the action applied to when the request came; ``changed``: jobs
    changed (0 for a dry run); ``complete``: False when ``max_bulk_jobs`` stopped it
    with matching jobs left (send it again)."""

    action: Literal["retry", "cancel"]
    matched: int
    changed: int
    complete: bool
    dry_run: bool

    @classmethod
    def from_domain(cls, outcome: BulkOutcome, dry_run: bool) -> BulkResultDto:
        return cls(
            action=outcome.action.value,
            matched=outcome.matched,
            changed=outcome.changed,
            complete=outcome.complete,
            dry_run=dry_run,
        )


class MinuteCountsDto(BaseModel):
    minute: UtcDateTime
    enqueued: int
    completed: int
    failed: int


class QueueOverviewDto(BaseModel):
    name: str
    size: int
    is_paused: bool
    oldest_due_at: UtcDateTime | None
    oldest_wait_seconds: float | None = Field(
        description="Seconds the longest-waiting due job has waited"
    )
    enqueued: int = Field(description="Jobs created in the window")
    completed: int = Field(description="Jobs completed in the window")
    failed: int = Field(description="Jobs failed or timed out in the window")
    failure_rate: float | None


class WorkerMinuteDto(BaseModel):
    minute: UtcDateTime
    completed: int = Field(description="Attempts the worker completed in the minute")
    failed: int = Field(description="Attempts of the worker that failed or timed out")


class WorkerOverviewDto(BaseModel):
    worker_id: str
    completed: int = Field(description="Attempts completed in the window")
    failed: int = Field(description="Attempts failed or timed out in the window")
    history: list[WorkerMinuteDto] = Field(description="Minutes with work, oldest first")


class OverviewDto(BaseModel):
    now: UtcDateTime
    since: UtcDateTime
    history: list[MinuteCountsDto]
    queues: list[QueueOverviewDto]
    stats: JobStatsDto | None = Field(
        description="Get Job Statistics' figures; null while the first count of a large "
        "table after a server start is still running (ask again: it is ready soon)"
    )
    failure_rate: float | None = Field(
        description="Failed or timed-out share of the jobs that ended in the window"
    )
    workers: list[WorkerOverviewDto] = Field(
        default_factory=list,
        description=f"The workers that did the most in the window (at most "
        f"{MAX_CHARTED_WORKERS}), from the counts their heartbeats keep in the store",
    )

    @classmethod
    def from_domain(cls, view: Overview) -> OverviewDto:
        return cls(
            now=view.now,
            since=view.since,
            history=[
                MinuteCountsDto(
                    minute=minute, enqueued=t.enqueued, completed=t.completed, failed=t.failed
                )
                for minute, t in view.history
            ],
            queues=[
                QueueOverviewDto(
                    name=q.name,
                    size=q.size,
                    is_paused=q.is_paused,
                    oldest_due_at=q.oldest_due_at,
                    oldest_wait_seconds=(
                        max(0.0, (view.now - q.oldest_due_at).total_seconds())
                        if q.oldest_due_at
                        else None
                    ),
                    enqueued=q.throughput.enqueued,
                    completed=q.throughput.completed,
                    failed=q.throughput.failed,
                    failure_rate=q.throughput.failure_rate,
                )
                for q in view.queues
            ],
            stats=None if view.stats is None else JobStatsDto.from_domain(view.stats),
            failure_rate=view.throughput.failure_rate,
            workers=[
                WorkerOverviewDto(
                    worker_id=w.worker_id,
                    completed=w.throughput.completed,
                    failed=w.throughput.failed,
                    history=[
                        WorkerMinuteDto(minute=m, completed=t.completed, failed=t.failed)
                        for m, t in w.history
                    ],
                )
                for w in view.workers
            ],
        )


class WaitReasonDto(BaseModel):
    code: Literal[
        "not_waiting",
        "queue_paused",
        "no_worker",
        "no_task_worker",
        "scheduled",
        "retry_backoff",
        "jobs_ahead",
        "next_in_line",
    ]
    message: str
    until: UtcDateTime | None = None
    count: int | None = None

    @classmethod
    def from_domain(cls, reason: WaitReason) -> WaitReasonDto:
        return cls.model_validate(
            {
                "code": reason.code,
                "message": reason.message,
                "until": reason.until,
                "count": reason.count,
            }
        )


class WaitReasonsDto(BaseModel):
    job_id: str
    status: StatusEnum
    waiting: bool
    reasons: list[WaitReasonDto]


class SessionDto(BaseModel):
    """What the caller's token allows, so the console shows only usable actions."""

    auth: bool = Field(description="False when the API checks no tokens")
    subject: str | None
    scopes: list[str]
