"""The Job: one stored call of a task, with its priority and its state machine.

The state machine is drawn in ``docs/state-machine.md``; ``TRANSITIONS`` below is
the same graph in code. The stores' SQL names statuses only through the sets
below (rendered into it at load time by ``store/statuses.py``), and the shared
store suite (``tests/stores/test_conformance.py``) runs every store verb and
fails on any status change that is not an arrow of ``TRANSITIONS``, or on an
arrow no verb takes.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from uno.jobs.errors import IllegalTransition, ValidationError
from uno.jobs.limits import DEFAULT_LIMITS, Limits, check_json, check_name


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for critical .. 3 for low: lower ranks are fetched first."""
        return _PRIORITY_RANK[self]

    @classmethod
    def parse(cls, value: str | Priority) -> Priority:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(p.value for p in cls)
            raise ValidationError(
                f"Invalid priority {value!r}: expected one of {allowed}"
            ) from None

    @classmethod
    def from_rank(cls, rank: int) -> Priority:
        return _PRIORITY_BY_RANK[rank]


_PRIORITY_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}
_PRIORITY_BY_RANK = {rank: p for p, rank in _PRIORITY_RANK.items()}


class Status(StrEnum):
    PENDING = "pending"
    RESERVED = "reserved"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    RETRYING = "retrying"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    @classmethod
    def parse(cls, value: str | Status) -> Status:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValidationError(f"Invalid status {value!r}: expected one of {allowed}") from None


#: Statuses of a job waiting for a worker (due now or later).
WAITING = frozenset({Status.PENDING, Status.RETRYING})
#: Statuses of a job a worker holds.
HELD = frozenset({Status.RESERVED, Status.RUNNING})
#: Statuses a job never leaves on its own (a manual retry may revive some).
FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.TIMEOUT})
#: Statuses from which a user may cancel: the job has not started.
CANCELLABLE = frozenset({Status.PENDING, Status.RESERVED, Status.RETRYING})
#: Statuses from which a user may retry by hand.
RETRYABLE = frozenset({Status.FAILED, Status.TIMEOUT, Status.CANCELLED})
#: Statuses a failed attempt may end a job in, when no retry follows.
FAILURE_ENDS = frozenset({Status.FAILED, Status.TIMEOUT, Status.CANCELLED})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    # pending -> running: a worker claims a job it starts at once in one step.
    Status.PENDING: frozenset({Status.RESERVED, Status.RUNNING, Status.CANCELLED}),
    # reserved -> pending: a worker stopping politely hands back what it has not started.
    Status.RESERVED: frozenset({Status.RUNNING, Status.PENDING, Status.CANCELLED}),
    Status.RUNNING: frozenset(
        {
            Status.COMPLETED,
            Status.FAILED,
            Status.TIMEOUT,
            Status.RETRYING,
            Status.CANCELLED,  # only when the task itself raises Cancel
            Status.PENDING,  # handed back by a worker stopping past its grace period
        }
    ),
    Status.RETRYING: frozenset({Status.RESERVED, Status.RUNNING, Status.CANCELLED}),
    Status.COMPLETED: frozenset(),
    Status.FAILED: frozenset({Status.PENDING}),
    Status.TIMEOUT: frozenset({Status.PENDING}),
    Status.CANCELLED: frozenset({Status.PENDING}),
}


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def check_transition(
    job_id: str, current: Status, target: Status, action: str | None = None
) -> None:
    """Raise ``IllegalTransition`` unless the state machine allows current -> target."""
    if not can_transition(current, target):
        raise IllegalTransition(job_id, current.value, target.value, action)


@dataclass(frozen=True, slots=True)
class JobError:
    """What went wrong in a failed attempt."""

    type: str
    message: str
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> JobError | None:
        if not data:
            return None
        return cls(str(data.get("type", "")), str(data.get("message", "")), data.get("traceback"))


def new_job_id() -> str:
    """32 hex digits: the time in milliseconds (12), then 80 random bits (20).

    Ids made later sort later, like UUIDv7, so the stores' primary-key indexes
    grow at their right edge instead of touching a random page per job.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


@dataclass(slots=True)
class Job:
    """One stored call of a task. Times are timezone-aware UTC."""

    task_name: str
    id: str = field(default_factory=new_job_id)
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue_name: str = "default"
    priority: Priority = Priority.NORMAL
    status: Status = Status.PENDING
    scheduled_at: datetime | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    result: Any = None
    error: JobError | None = None
    retry_count: int = 0
    max_retries: int = 0
    retry_delay: float = 60.0
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    worker_id: str | None = None
    timeout: float | None = None
    version: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds between start and end of the last attempt, when both are known."""
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def evolve(self, **changes: Any) -> Job:
        return replace(self, **changes)


def validate_json(value: Any, what: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse values that would not survive the trip through the database as JSON.

    ``check_json`` with the depth and size of ``limits``, after a fast path for
    the common case: a few levels of lists and objects holding ASCII strings and
    numbers, which can break no limit but the size, counted on the way.
    """
    depth = min(_PLAIN_DEPTH, limits.max_json_depth)
    if _plain_budget(value, depth, limits.max_payload_bytes // 6) < 0:
        check_json(value, what, limits.max_json_depth, limits.max_payload_bytes)


#: How deep the fast path of ``validate_json`` looks before leaving a value to ``check_json``.
_PLAIN_DEPTH = 4
_BIG = 2**63


def _plain_budget(value: Any, depth: int, budget: int) -> int:
    """``budget`` less the characters of ``value`` if it is plain, else -1.

    Plain: lists and objects at most ``depth`` levels deep of ASCII strings
    without NUL (no lone surrogate, one byte a character, six when escaped:
    hence a budget of a sixth of the byte limit), 64-bit integers, finite
    floats, booleans and None. -1 sends the value to the full check; it never
    refuses it. The recursion is bounded by ``depth``.
    """
    kind = type(value)
    if kind is dict:
        budget = _plain_keys_budget(value, budget)
        items: Iterable[Any] = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return -1
    if depth <= 0 or budget < 0:
        return -1
    for item in items:
        budget = _plain_item_budget(item, depth, budget)
        if budget < 0:
            return -1
    return budget


def _plain_keys_budget(value: dict[Any, Any], budget: int) -> int:
    """``budget`` less the characters of the keys of ``value`` if all are plain, else -1."""
    for key in value:
        if type(key) is not str or not key.isascii() or "\x00" in key:
            return -1
        budget -= len(key) + 3
    return budget


def _plain_item_budget(item: Any, depth: int, budget: int) -> int:
    """``budget`` less the characters of ``item``, a member of a value ``depth`` deep; or -1."""
    kind = type(item)
    if kind is str:
        if not item.isascii() or "\x00" in item:
            return -1
        return budget - len(item) - 3
    if kind is bool or item is None or (kind is int and -_BIG <= item < _BIG):
        return budget - 21
    if kind is float and math.isfinite(item):
        return budget - 25
    return _plain_budget(item, depth - 1, budget)


def is_plain_name(value: Any, limits: Limits = DEFAULT_LIMITS) -> bool:
    """True for the common name: non-empty ASCII without NUL, within the length limit.

    A shortcut of ``check_name`` for hot paths; ``False`` means "check fully".
    """
    return (
        type(value) is str
        and 0 < len(value) <= limits.max_name_chars
        and value.isascii()
        and "\x00" not in value
    )


def check_tags(tags: Any, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """A job's or schedule's tags as a list: at most ``max_tags`` names."""
    kind = type(tags)
    if (kind is not list and kind is not tuple) and (
        isinstance(tags, str | bytes) or not isinstance(tags, Sequence | AbstractSet)
    ):
        raise ValidationError(f"tags must be a list of strings, got {kind.__name__}")
    if len(tags) > limits.max_tags:
        raise ValidationError(f"A job or schedule may have at most {limits.max_tags} tags")
    for tag in tags:
        if not is_plain_name(tag, limits):
            check_name(tag, "a tag", limits)
    return list(tags)
