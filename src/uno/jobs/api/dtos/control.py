"""Job control DTOs: additions to the Jobs API reference (the job view's attempts
and progress, workers, and work waiting for a worker that has its task)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from uno.jobs.api.dtos.common import UtcDateTime
from uno.jobs.api.dtos.jobs import JobErrorDto, JobViewDto
from uno.jobs.attempts import Attempt, Progress
from uno.jobs.job_control import JobDetails, WorkerView
from uno.jobs.workers import TaskBacklog


class AttemptDto(BaseModel):
    """One ended attempt of the job."""

    number: int = Field(description="1 for the first attempt of the job, then up")
    worker_id: str | None
    started_at: UtcDateTime | None
    finished_at: UtcDateTime
    outcome: str = Field(description="completed, failed, timeout, cancelled or lost")
    error: JobErrorDto | None
    duration: float | None = Field(description="Seconds the attempt ran")

    @classmethod
    def from_domain(cls, attempt: Attempt) -> AttemptDto:
        return cls(
            number=attempt.number,
            worker_id=attempt.worker_id,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
            outcome=attempt.outcome.value,
            error=JobErrorDto.from_domain(attempt.error),
            duration=attempt.duration,
        )


class ProgressDto(BaseModel):
    """How far the job said it was, last."""

    fraction: float | None = Field(description="Between 0 and 1")
    message: str | None
    updated_at: UtcDateTime

    @classmethod
    def from_domain(cls, progress: Progress | None) -> ProgressDto | None:
        if progress is None:
            return None
        return cls(
            fraction=progress.fraction, message=progress.message, updated_at=progress.updated_at
        )


class JobDetailDto(JobViewDto):
    """The reference's job view, plus its attempt history and progress."""

    attempts: list[AttemptDto] = Field(
        default_factory=list, description="The last attempts, oldest first (a bounded number)"
    )
    progress: ProgressDto | None = Field(default=None, description="Last progress reported")

    @classmethod
    def from_details(cls, details: JobDetails) -> JobDetailDto:
        view = JobViewDto.from_domain(details.job)
        return cls(
            **view.model_dump(),
            attempts=[AttemptDto.from_domain(a) for a in details.attempts],
            progress=ProgressDto.from_domain(details.progress),
        )


class TaskRefDto(BaseModel):
    name: str
    version: str | None


class WorkerDto(BaseModel):
    """A worker, alive or not, as its registration and heartbeats tell."""

    id: str
    hostname: str
    pid: int
    queues: list[str] | None = Field(description="Queues it takes from (null: every queue)")
    tasks: list[TaskRefDto] | None = Field(description="Tasks it runs (null: did not say)")
    started_at: UtcDateTime
    last_heartbeat: UtcDateTime
    state: str = Field(description="alive, silent (heartbeats late) or gone")
    running_jobs: list[str] = Field(description="Ids of the jobs it runs now")
    processed: int = Field(description="Attempts it ended since it started")
    failed: int = Field(description="Of those, the failed ones")

    @classmethod
    def from_view(cls, view: WorkerView) -> WorkerDto:
        w = view.worker
        return cls(
            id=w.id,
            hostname=w.hostname,
            pid=w.pid,
            queues=w.queues,
            tasks=None
            if w.tasks is None
            else [TaskRefDto(name=t.name, version=t.version) for t in w.tasks],
            started_at=w.started_at,
            last_heartbeat=w.heartbeat_at,
            state=view.state.value,
            running_jobs=w.running_jobs,
            processed=w.processed,
            failed=w.failed,
        )


class TaskBacklogDto(BaseModel):
    """Waiting jobs of one task (at one version; null: any) and whether a live
    worker has that task."""

    task_name: str
    version: str | None
    waiting: int
    runnable: bool = Field(description="False: waiting for a worker that has this task")

    @classmethod
    def from_domain(cls, backlog: TaskBacklog) -> TaskBacklogDto:
        return cls(
            task_name=backlog.task_name,
            version=backlog.version,
            waiting=backlog.waiting,
            runnable=backlog.runnable,
        )


class WorkerListDto(BaseModel):
    items: list[WorkerDto]
    total: int
    waiting_for_workers: list[TaskBacklogDto] = Field(
        description="Waiting jobs whose task no live worker has"
    )
