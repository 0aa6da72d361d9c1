"""ScheduleManager: create, change, pause and delete schedules, with validation.

The REST API and users' code call these methods; every change is validated as a
whole before anything is written, so a bad request leaves the store untouched.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from uno.jobs.enqueue import JobRequest
from uno.jobs.errors import ScheduleNotFound, StoreUnavailable, TaskNotFound, ValidationError
from uno.jobs.jobs import Job, Priority
from uno.jobs.limits import text_fault
from uno.jobs.queries import ScheduleFilter
from uno.jobs.scheduler.occurrences import next_occurrence
from uno.jobs.scheduler.spec import SPEC_FIELDS, ScheduleSpec, validated_schedule
from uno.jobs.schedules import Interval, Schedule, ScheduleStatus
from uno.jobs.tasks import DEFAULT_QUEUE, Task, TaskRef

if TYPE_CHECKING:
    from uno.jobs.system import JobSystem

#: Fields ``update`` may change.
UPDATABLE = frozenset({*SPEC_FIELDS, "status"})
#: Fields where ``None`` in an update means "leave as it is" (they cannot be null).
_NOT_NULL = frozenset(
    {"name", "task_name", "timezone", "args", "kwargs", "priority", "tags", "metadata", "status"}
)
_RULE_FIELDS = frozenset({"cron_expression", "interval", "timezone"})
#: How many times a change is read, validated and written again when another
#: change of the same schedule lands between its read and its write.
CHANGE_ATTEMPTS = 20


class ScheduleManager:
    """The schedule verbs of a JobSystem: ``jobs.schedules.create(...)`` and friends."""

    def __init__(self, system: JobSystem) -> None:
        self.system = system

    # -- reads ------------------------------------------------------------------
    async def get(self, schedule_id: str) -> Schedule:
        _known_id(schedule_id)
        await self.system.open()
        schedule = await self.system.store.get_schedule(schedule_id)
        if schedule is None:
            raise ScheduleNotFound(f"Schedule not found: {schedule_id}")
        return schedule

    async def list(
        self,
        status: ScheduleStatus | str | None = None,
        tags: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[builtins.list[Schedule], int]:
        """One page of schedules (oldest first) and the total matching."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError(f"limit must be a whole number of 1 or more, got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError(f"offset must be a whole number of 0 or more, got {offset!r}")
        wanted = _parse_status(status) if status is not None else None
        await self.system.open()
        return await self.system.store.list_schedules(
            ScheduleFilter(status=wanted, tags=tuple(tags), limit=limit, offset=offset)
        )

    # -- writes -----------------------------------------------------------------
    async def create(
        self,
        name: str,
        task_name: str,
        *,
        cron_expression: str | None = None,
        interval: Interval | dict[str, Any] | None = None,
        timezone: str = "UTC",
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        queue_name: str | None = None,
        priority: Priority | str = "normal",
        tags: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        timeout: float | None = None,
        version: str | None = None,
    ) -> Schedule:
        """Store a new active schedule; its first run is the next occurrence after now."""
        now = self.system.clock.now()
        spec = ScheduleSpec(
            name=name,
            task_name=task_name,
            cron_expression=cron_expression,
            interval=interval,
            timezone=timezone,
            args=args,
            kwargs=kwargs if kwargs is not None else {},
            queue_name=queue_name,
            priority=priority,
            tags=tags,
            metadata=metadata if metadata is not None else {},
            max_retries=max_retries,
            retry_delay=retry_delay,
            timeout=timeout,
            version=version,
        )
        schedule = self._validated(spec, now)
        schedule.next_run_at = next_occurrence(schedule, now)
        await self.system.open()
        await self.system.store.insert_schedule(schedule)
        return schedule

    async def update(self, schedule_id: str, **changes: Any) -> Schedule:
        """Change some fields; the rest stay. Validated as a whole, written at once.

        Giving ``cron_expression`` switches the schedule to cron (clearing its
        interval) and the other way round. A new rule or time zone recomputes
        ``next_run_at`` from now; ``status`` may pause or resume.

        Only the fields given are written (with ``updated_at``, and ``status`` and
        ``next_run_at`` when they move), and only over the revision they were
        validated against: a scheduler firing meanwhile keeps its ``last_run_at``
        and ``next_run_at``, and a concurrent change makes this one start over.
        """
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValidationError(f"Cannot update schedule field(s): {', '.join(sorted(unknown))}")
        changes = {k: v for k, v in changes.items() if not (v is None and k in _NOT_NULL)}
        cron = changes.pop("cron_expression", None)
        interval = changes.pop("interval", None)
        if cron is not None and interval is not None:
            raise ValidationError("Give either cron_expression or interval, not both")
        if cron is not None:
            changes.update(cron_expression=cron, interval=None)
        elif interval is not None:
            changes.update(cron_expression=None, interval=interval)
        wanted = changes.pop("status", None)
        for _ in range(CHANGE_ATTEMPTS):
            current = await self.get(schedule_id)
            now = self.system.clock.now()
            status = _parse_status(wanted if wanted is not None else current.status)
            checked = self._validated(replace(ScheduleSpec.of(current), **changes), now)
            updated = checked.evolve(
                id=current.id,
                status=current.status,
                last_run_at=current.last_run_at,
                next_run_at=current.next_run_at,
                created_at=current.created_at,
                updated_at=now,
                revision=current.revision,
            )
            fields = {*changes, "updated_at"}
            rule_changed = (
                updated.cron_expression != current.cron_expression
                or updated.interval != current.interval
                or updated.timezone != current.timezone
            )
            if status is ScheduleStatus.PAUSED:
                updated.status, updated.next_run_at = status, None
                fields |= {"status", "next_run_at"}
            elif rule_changed or current.status is not ScheduleStatus.ACTIVE:
                updated.status, updated.next_run_at = status, next_occurrence(updated, now)
                fields |= {"status", "next_run_at"}
            stored = await self.system.store.update_schedule_fields(updated, fields)
            if stored is not None:
                return stored
        raise _kept_changing(schedule_id)

    async def delete(self, schedule_id: str) -> None:
        _known_id(schedule_id)
        await self.system.open()
        if not await self.system.store.delete_schedule(schedule_id):
            raise ScheduleNotFound(f"Schedule not found: {schedule_id}")

    async def pause(self, schedule_id: str) -> Schedule:
        """Stop firing; ``next_run_at`` becomes None. Pausing twice is harmless."""
        _known_id(schedule_id)
        await self.system.open()
        now = self.system.clock.now()
        paused = await self.system.store.set_schedule_status(
            schedule_id, ScheduleStatus.PAUSED, None, now
        )
        assert paused is not None  # no revision asked for, so no conflict possible
        return paused

    async def resume(self, schedule_id: str) -> Schedule:
        """Fire again from now on: the next occurrence after now, no burst of missed runs.

        Resuming an active schedule changes nothing (its ``next_run_at`` is the
        scheduler's to move)."""
        for _ in range(CHANGE_ATTEMPTS):
            current = await self.get(schedule_id)
            if current.status is ScheduleStatus.ACTIVE:
                return current
            now = self.system.clock.now()
            resumed = await self.system.store.set_schedule_status(
                schedule_id,
                ScheduleStatus.ACTIVE,
                next_occurrence(current, now),
                now,
                revision=current.revision,
            )
            if resumed is not None:
                return resumed
        raise _kept_changing(schedule_id)

    async def run_now(self, schedule_id: str) -> Job:
        """Enqueue the schedule's job now, out of turn: due at once, its next run left
        as it is (paused schedules too). By name, so that a process without the
        task's code (the CLI, an API server of another app) can still do it."""
        schedule = await self.get(schedule_id)
        ref = TaskRef(schedule.task_name, queue=schedule.queue_name or DEFAULT_QUEUE)
        request = replace(schedule_job(schedule, None), task_ref=ref)
        (job,) = await self.system.enqueue_many([request])
        return job

    # -- validation ---------------------------------------------------------------
    def _validated(self, spec: ScheduleSpec, now: datetime) -> Schedule:
        """The schedule ``spec`` asks for, every field checked (see ``scheduler/spec.py``)."""
        return validated_schedule(spec, self.system.registry, self.system.settings.limits, now)

    def task_of(self, schedule: Schedule) -> Task | None:
        """The task whose defaults the schedule's jobs get (``None`` if none is registered)."""
        try:
            return self.system.registry.get(schedule.task_name, schedule.version)
        except TaskNotFound:
            return None


def schedule_job(schedule: Schedule, occurrence: datetime | None) -> JobRequest:
    """The job a schedule enqueues: its settings, and in its metadata where it came
    from. ``occurrence``: the one it fires for (the job is due then, and says so);
    None: a run out of turn (due at once, ``run_now`` in its metadata)."""
    metadata: dict[str, Any] = {
        **schedule.metadata,
        "schedule_id": schedule.id,
        "schedule_name": schedule.name,
    }
    if occurrence is None:
        metadata["run_now"] = True
    else:
        metadata["scheduled_occurrence"] = occurrence.isoformat()
    return JobRequest(
        task_name=schedule.task_name,
        args=schedule.args,
        kwargs=schedule.kwargs,
        queue_name=schedule.queue_name,
        priority=schedule.priority,
        scheduled_at=occurrence,
        max_retries=schedule.max_retries,
        retry_delay=schedule.retry_delay,
        timeout=schedule.timeout,
        tags=schedule.tags,
        metadata=metadata,
        version=schedule.version,
    )


def _known_id(schedule_id: str) -> None:
    """``ScheduleNotFound`` for an id no schedule can have (no store could look it up)."""
    if not isinstance(schedule_id, str) or text_fault(schedule_id):
        raise ScheduleNotFound(f"Schedule not found: {schedule_id!r}")


def _kept_changing(schedule_id: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"Schedule {schedule_id} changed {CHANGE_ATTEMPTS} times while this change was "
        "being written; try again"
    )


def _parse_status(value: ScheduleStatus | str) -> ScheduleStatus:
    try:
        return ScheduleStatus(value)
    except ValueError:
        raise ValidationError(
            f"Invalid schedule status {value!r}: expected active or paused"
        ) from None
