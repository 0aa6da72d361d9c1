"""Questions asked of the stored jobs: list filters, statistics and queue views.

The API builds these from a request and the stores answer them, so both import
them from here, and a filter is checked once, when it is made: a store receives
only filters it can run as they are. Statistics are computed here too, from the
counts each store returns per (status, queue, priority), so every store reports
the same numbers for the same jobs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, get_args

from uno.jobs.errors import ValidationError
from uno.jobs.jobs import FINISHED, HELD, WAITING, Priority, Status
from uno.jobs.limits import text_fault
from uno.jobs.schedules import ScheduleStatus

#: Fields a job list may be ordered by.
JobOrderField = Literal[
    "created_at",
    "scheduled_at",
    "started_at",
    "completed_at",
    "priority",
    "status",
    "task_name",
    "queue_name",
    "retry_count",
    "id",
]
JOB_ORDER_FIELDS: tuple[str, ...] = get_args(JobOrderField)
#: Directions a list may be ordered in.
ORDER_DIRECTIONS = ("asc", "desc")


@dataclass(frozen=True, slots=True)
class JobFilter:
    """The filters and ordering of the List Jobs endpoint.

    ``statuses`` match any of them; ``tags`` match jobs that have all of them.
    Ordering by ``priority`` means by rank (critical first when ascending); jobs
    without the ordered time come last either way; ties follow insertion order
    (reversed when descending).

    Made only valid: an ``order_by`` outside ``JOB_ORDER_FIELDS``, an
    ``order_dir`` other than asc/desc (any case, kept in lower case), a negative
    limit or offset, an unknown status or priority, or text no store can compare
    raise ``ValidationError``.
    """

    queue_name: str | None = None
    statuses: tuple[Status, ...] = ()
    priority: Priority | None = None
    tags: tuple[str, ...] = ()
    worker_id: str | None = None
    task_name: str | None = None
    limit: int = 100
    offset: int = 0
    order_by: str = "created_at"
    order_dir: str = "desc"
    #: Jobs created at or after this time (the console's time range).
    created_after: datetime | None = None
    #: Jobs created before this time.
    created_before: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("created_after", "created_before"):
            _set(self, name, _utc(getattr(self, name), name))
        for value, what in (
            (self.queue_name, "queue_name"),
            (self.worker_id, "worker_id"),
            (self.task_name, "task_name"),
        ):
            if value is not None:
                _check_filter_text(value, what)
        _set(self, "tags", _filter_tags(self.tags))
        _set(self, "statuses", tuple(Status.parse(s) for s in self.statuses))
        if self.priority is not None:
            _set(self, "priority", Priority.parse(self.priority))
        _check_page(self.limit, self.offset)
        if self.order_by not in JOB_ORDER_FIELDS:
            allowed = ", ".join(JOB_ORDER_FIELDS)
            raise ValidationError(f"Cannot order jobs by {self.order_by!r}: use one of {allowed}")
        direction = self.order_dir.lower() if isinstance(self.order_dir, str) else None
        if direction not in ORDER_DIRECTIONS:
            raise ValidationError(f"order_dir must be 'asc' or 'desc', got {self.order_dir!r}")
        _set(self, "order_dir", direction)


@dataclass(frozen=True, slots=True)
class ScheduleFilter:
    """The filters of List Schedules; checked when made, as ``JobFilter``."""

    status: ScheduleStatus | None = None
    tags: tuple[str, ...] = ()
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if self.status is not None:
            try:
                _set(self, "status", ScheduleStatus(self.status))
            except ValueError:
                raise ValidationError(
                    f"Invalid schedule status {self.status!r}: expected active or paused"
                ) from None
        _set(self, "tags", _filter_tags(self.tags))
        _check_page(self.limit, self.offset)


def _utc(value: Any, what: str) -> datetime | None:
    """A time filter as an aware UTC datetime (naive input is read as UTC)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _set(instance: Any, name: str, value: Any) -> None:
    """Put a checked value in canonical form on a frozen filter."""
    object.__setattr__(instance, name, value)


def _filter_tags(tags: Any) -> tuple[str, ...]:
    if isinstance(tags, str | bytes):
        raise ValidationError(f"tags filter must be a list of strings, got {type(tags).__name__}")
    listed: tuple[str, ...] = tuple(tags)
    for tag in listed:
        _check_filter_text(tag, "a tag")
    return listed


def _check_filter_text(value: Any, what: str) -> None:
    """A filter value must be text a store can compare: a string without NUL or lone surrogates.

    Its length is not bounded here: a long one simply matches nothing.
    """
    if not isinstance(value, str):
        raise ValidationError(f"{what} filter must be a string, got {type(value).__name__}")
    fault = text_fault(value)
    if fault:
        raise ValidationError(f"{what} filter {fault}")


def _check_page(limit: Any, offset: Any) -> None:
    for value, what in ((limit, "limit"), (offset, "offset")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(f"{what} must be a whole number of 0 or more, got {value!r}")


# -- statistics ---------------------------------------------------------------

#: The statuses each count of ``JobStats`` adds up.
PENDING_STATUSES = WAITING
RUNNING_STATUSES = HELD
COMPLETED_STATUSES = frozenset({Status.COMPLETED})
FAILED_STATUSES = frozenset({Status.FAILED, Status.TIMEOUT})
CANCELLED_STATUSES = frozenset({Status.CANCELLED})


class JobGroup(NamedTuple):
    """What a store counts of the jobs of one (status, queue, priority).

    ``waited`` sums, over the jobs that started, the seconds from the moment
    their last attempt became due to its start; ``ran`` sums, over the jobs with
    both a start and an end, the seconds between the two (only the groups of
    finished statuses count towards ``avg_run_time``).
    """

    status: Status
    queue_name: str
    priority: Priority
    jobs: int
    waited: float
    started: int
    ran: float
    finished: int


@dataclass(slots=True)
class JobStats:
    """Counts and averages of Get Job Statistics.

    ``pending_jobs`` counts waiting jobs (pending and retrying), ``running_jobs``
    held ones (reserved and running), ``failed_jobs`` failed and timed-out ones;
    ``by_status`` has all eight statuses apart. ``by_queue`` maps a queue to
    ``{"total_jobs": n, "pending_jobs": m}`` (in name order); ``by_priority``
    counts all jobs. ``avg_wait_time`` is the mean, over started jobs, of the
    wait of their last attempt; ``avg_run_time`` the mean of completed_at -
    started_at over finished jobs (a job waiting for its retry is not finished).
    """

    total_jobs: int = 0
    pending_jobs: int = 0
    running_jobs: int = 0
    completed_jobs: int = 0
    failed_jobs: int = 0
    cancelled_jobs: int = 0
    avg_wait_time: float | None = None
    avg_run_time: float | None = None
    by_queue: dict[str, dict[str, int]] = field(default_factory=dict)
    by_priority: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JobStats:
        """The statistics ``to_json`` wrote."""
        return cls(**json.loads(text))

    @classmethod
    def from_groups(cls, groups: Iterable[JobGroup]) -> JobStats:
        """The statistics of the jobs a store counted in ``groups``."""
        by_status = dict.fromkeys(Status, 0)
        by_priority = {p.value: 0 for p in Priority}
        by_queue: dict[str, dict[str, int]] = {}
        waited = ran = 0.0
        started = finished = 0
        for group in groups:
            n = group.jobs
            by_status[group.status] += n
            by_priority[group.priority.value] += n
            queue = by_queue.setdefault(group.queue_name, {"total_jobs": 0, "pending_jobs": 0})
            queue["total_jobs"] += n
            if group.status in PENDING_STATUSES:
                queue["pending_jobs"] += n
            waited += group.waited
            started += group.started
            if group.status in FINISHED:
                ran += group.ran
                finished += group.finished

        def count(statuses: frozenset[Status]) -> int:
            return sum(by_status[s] for s in statuses)

        return cls(
            total_jobs=sum(by_status.values()),
            pending_jobs=count(PENDING_STATUSES),
            running_jobs=count(RUNNING_STATUSES),
            completed_jobs=count(COMPLETED_STATUSES),
            failed_jobs=count(FAILED_STATUSES),
            cancelled_jobs=count(CANCELLED_STATUSES),
            avg_wait_time=max(0.0, waited / started) if started else None,
            avg_run_time=ran / finished if finished else None,
            by_queue=dict(sorted(by_queue.items())),
            by_priority=by_priority,
            by_status={s.value: n for s, n in by_status.items()},
        )


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue as listed: ``size`` counts its waiting jobs (pending and retrying,
    due or scheduled for later)."""

    name: str
    size: int
    is_paused: bool


@dataclass(frozen=True, slots=True)
class WorkerMinute:
    """A worker's counts as they stood at its last heartbeat of one minute (``minute``
    is its start, UTC): attempts it ended and those that failed, since it started.
    The difference from its previous minute is what it did in between."""

    minute: datetime
    worker_id: str
    processed: int
    failed: int


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """Job statistics as last counted when that was costly: when, how long it took
    (seconds), and the statistics as JSON (``JobStats.to_json``)."""

    computed_at: datetime
    took: float
    stats: str


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    """What happened to the jobs of one queue in one minute (``minute`` is its start,
    UTC): jobs created, jobs that ended completed, and jobs that ended failed or
    timed out. The console's throughput charts are made of these."""

    minute: datetime
    queue_name: str
    enqueued: int = 0
    completed: int = 0
    failed: int = 0

    def merged(self, other: MinuteCounts) -> MinuteCounts:
        """The larger figure of each kind: a stored minute and the same minute
        counted again from the jobs (some since pruned) agree on the larger."""
        return MinuteCounts(
            self.minute,
            self.queue_name,
            max(self.enqueued, other.enqueued),
            max(self.completed, other.completed),
            max(self.failed, other.failed),
        )


def merge_minutes(
    stored: Iterable[MinuteCounts], counted: Iterable[MinuteCounts]
) -> list[MinuteCounts]:
    """The stored minutes and those counted again from the jobs, one per (minute,
    queue) (``MinuteCounts.merged`` where both have it), by minute then queue."""
    by_key = {(m.minute, m.queue_name): m for m in stored}
    for m in counted:
        known = by_key.get((m.minute, m.queue_name))
        by_key[(m.minute, m.queue_name)] = known.merged(m) if known else m
    return [by_key[key] for key in sorted(by_key)]


@dataclass(frozen=True, slots=True)
class QueueWait:
    """The oldest job of a queue that is due and waiting (pending or retrying,
    ``scheduled_at`` passed), by when it became due."""

    queue_name: str
    oldest_due_at: datetime
