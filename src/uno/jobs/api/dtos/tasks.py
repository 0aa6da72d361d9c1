"""Task DTOs, as in the Jobs API reference."""

from __future__ import annotations

from pydantic import BaseModel, Field

from uno.jobs.api.dtos.common import Seconds
from uno.jobs.api.dtos.control import TaskBacklogDto
from uno.jobs.tasks import Task


class TaskInfoDto(BaseModel):
    """A registered task and the defaults its jobs get."""

    name: str
    description: str | None
    is_async: bool
    timeout: Seconds | None
    max_retries: int
    retry_delay: Seconds
    queue: str
    version: str

    @classmethod
    def from_domain(cls, task: Task) -> TaskInfoDto:
        return cls(
            name=task.name,
            description=task.description,
            is_async=task.is_async,
            timeout=task.timeout,
            max_retries=task.max_retries,
            retry_delay=task.retry_delay,
            queue=task.queue,
            version=task.version,
        )


class TaskListDto(BaseModel):
    items: list[TaskInfoDto]
    total: int
    #: An addition to the reference, filled by List Tasks.
    waiting_for_workers: list[TaskBacklogDto] = Field(
        default_factory=list,
        description="Waiting jobs whose task (at the version they name) no live worker has",
    )

    @classmethod
    def from_domain(cls, tasks: list[Task]) -> TaskListDto:
        return cls(items=[TaskInfoDto.from_domain(t) for t in tasks], total=len(tasks))
