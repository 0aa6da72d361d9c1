"""Job lifecycle events: the one place logs, metrics and waiters subscribe to.

The worker publishes; nothing it does waits on a subscriber, and a subscriber
that raises is logged and otherwise ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from uno.jobs.jobs import Status

log = logging.getLogger("uno.jobs.events")


class EventKind(StrEnum):
    ENQUEUED = "enqueued"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # an attempt failed; ``status`` says whether it will be retried


@dataclass(frozen=True, slots=True)
class JobEvent:
    kind: EventKind
    job_id: str
    task_name: str
    queue_name: str
    status: Status
    duration: float | None = None
    wait_time: float | None = None


Subscriber = Callable[[JobEvent], None]


class EventHub:
    """Synchronous fan-out of job events to subscribers within one process."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; the returned function removes it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    @property
    def active(self) -> bool:
        return bool(self._subscribers)

    def publish(self, event: JobEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("job event subscriber failed on %s", event)
