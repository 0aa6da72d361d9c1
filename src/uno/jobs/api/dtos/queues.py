"""Queue DTOs, as in the Jobs API reference."""

from __future__ import annotations

from pydantic import BaseModel

from uno.jobs.queries import QueueInfo


class QueueDto(BaseModel):
    """A queue: ``size`` counts its waiting jobs (pending, retrying, scheduled)."""

    name: str
    size: int
    is_paused: bool

    @classmethod
    def from_domain(cls, queue: QueueInfo) -> QueueDto:
        return cls(name=queue.name, size=queue.size, is_paused=queue.is_paused)


class QueueListDto(BaseModel):
    """One page of queues by name; ``total`` counts every queue."""

    items: list[QueueDto]
    total: int

    @classmethod
    def from_domain(cls, queues: list[QueueInfo]) -> QueueListDto:
        return cls.from_page(queues, len(queues))

    @classmethod
    def from_page(cls, queues: list[QueueInfo], total: int) -> QueueListDto:
        return cls(items=[QueueDto.from_domain(q) for q in queues], total=total)
