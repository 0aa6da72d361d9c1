"""The Scheduler: turns due schedule occurrences into jobs, exactly once.

Any number of schedulers may run against one store. None of them holds a lock:
each occurrence is recorded under a unique ``(schedule_id, occurrence)`` key in
the same transaction that inserts its job (``Store.fire_schedule``), so when two
schedulers race for one occurrence the second writes nothing. A scheduler writes
only ``next_run_at`` and ``last_run_at``, and only for the revision of the
schedule it read, so a change made through the API meanwhile is never undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from uno.jobs.clock import as_utc
from uno.jobs.events import EventKind, JobEvent
from uno.jobs.jobs import Job
from uno.jobs.scheduler.maintenance import Maintenance
from uno.jobs.scheduler.manager import schedule_job
from uno.jobs.scheduler.occurrences import latest_occurrence, next_occurrence
from uno.jobs.schedules import Schedule
from uno.jobs.system import JobSystem

log = logging.getLogger("uno.jobs.scheduler")

#: How many due schedules one tick loads at most; the next tick takes the rest.
BATCH = 100
#: How long a schedule that cannot be turned into a job (its task is unknown to
#: this process, say) is left alone before the next attempt.
FAILURE_BACKOFF = timedelta(seconds=60)
#: The shortest pause between ticks, so that clock skew can never spin the loop.
MIN_SLEEP = 0.01

#: A run of maintenance going on beside the ticks.
Pruning = asyncio.Task[int | None]


class Scheduler:
    """Fires due schedules of ``system``: ``await Scheduler(system).run()``.

    ``tick(now)`` is one step and what tests call; ``run()`` repeats it until
    ``request_stop()``, sleeping until the next occurrence is due (or at most
    ``tick_interval`` seconds, so schedules created elsewhere are seen soon).
    """

    def __init__(
        self,
        system: JobSystem,
        *,
        tick_interval: float = 1.0,
        maintenance: Maintenance | None = None,
    ) -> None:
        if tick_interval <= 0:
            raise ValueError("tick_interval must be positive")
        self.system = system
        self.tick_interval = tick_interval
        self.maintenance = maintenance if maintenance is not None else Maintenance(system)
        self._stop = asyncio.Event()
        self._backoff: dict[str, datetime] = {}

    # -- one step ---------------------------------------------------------------
    async def tick(self, now: datetime | None = None) -> int:
        """Fire every due schedule once; return the number of jobs created.

        Missed occurrences (after downtime) coalesce: only the latest one at or
        before ``now`` becomes a job, and ``next_run_at`` moves past ``now``.
        """
        await self.system.open()
        now = as_utc(now) if now is not None else self.system.clock.now()
        created = 0
        for schedule in await self.system.store.due_schedules(now, BATCH):
            retry_at = self._backoff.get(schedule.id)
            if retry_at is not None and retry_at > now:
                continue
            try:
                created += await self._fire(schedule, now)
            except Exception:
                self._backoff[schedule.id] = now + FAILURE_BACKOFF
                log.exception("Schedule %s (%s) could not fire", schedule.id, schedule.name)
            else:
                self._backoff.pop(schedule.id, None)
        return created

    async def _fire(self, schedule: Schedule, now: datetime) -> int:
        assert schedule.next_run_at is not None
        latest = latest_occurrence(schedule, now)
        occurrence = latest if latest is not None and latest >= schedule.next_run_at else None
        # A next_run_at that is not on the rule's grid (a rule edited by hand)
        # still fires once, at the time it names.
        occurrence = occurrence or schedule.next_run_at
        following = next_occurrence(schedule, max(occurrence, now))
        job = self.build_job(schedule, occurrence, now)
        store = self.system.store
        if await store.fire_schedule(
            schedule.id, occurrence, job, following, revision=schedule.revision
        ):
            log.info(
                "Schedule %s (%s) fired for %s: job %s",
                schedule.id,
                schedule.name,
                occurrence.isoformat(),
                job.id,
            )
            if self.system.events.active:
                self.system.events.publish(
                    JobEvent(EventKind.ENQUEUED, job.id, job.task_name, job.queue_name, job.status)
                )
            return 1
        # Another scheduler fired this occurrence first, or the schedule was
        # changed, paused or deleted meanwhile. In the first case make sure
        # next_run_at moved on, so the schedule is not due again for an occurrence
        # that is done; the store writes only if the schedule is still the one read
        # (a change in between wins, and the next tick reads it).
        await store.advance_schedule(schedule.id, occurrence, following, revision=schedule.revision)
        return 0

    def build_job(self, schedule: Schedule, occurrence: datetime, now: datetime) -> Job:
        """The job for one occurrence: the schedule's settings, and where it came from."""
        return self.system.build_job(schedule_job(schedule, occurrence), now)

    # -- the loop ---------------------------------------------------------------
    async def run(self) -> None:
        """Tick until ``request_stop()``.

        A store that cannot be reached (at start or later) is retried every
        ``tick_interval`` seconds rather than ending the loop.
        """
        self._stop.clear()
        log.info("Scheduler started (tick interval %gs)", self.tick_interval)
        pruning: Pruning | None = None
        try:
            while not self._stop.is_set():
                try:
                    await self.tick()
                    pruning = self._maintain(pruning)
                    delay = await self._delay()
                except Exception:
                    log.exception("Scheduler tick failed; trying again in %gs", self.tick_interval)
                    delay = self.tick_interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
        finally:
            if pruning is not None:  # it ends after the round under way
                await asyncio.gather(pruning, return_exceptions=True)
        log.info("Scheduler stopped")

    def _maintain(self, pruning: Pruning | None) -> Pruning | None:
        """Start maintenance when due, beside the ticks: its rounds over a large
        backlog may take minutes, and schedules keep firing meanwhile."""
        if pruning is not None:
            if not pruning.done():
                return pruning
            if not pruning.cancelled() and (error := pruning.exception()) is not None:
                log.error("Maintenance failed; trying again when due", exc_info=error)
        now = self.system.clock.now()
        if not self.maintenance.due(now):
            return None
        return asyncio.create_task(self.maintenance.run_if_due(now, self._stop.is_set))

    async def _delay(self) -> float:
        """Seconds until the earliest next_run_at, but at most ``tick_interval``."""
        now = self.system.clock.now()
        horizon = now + timedelta(seconds=self.tick_interval)
        for schedule in await self.system.store.due_schedules(horizon, BATCH):
            retry_at = self._backoff.get(schedule.id)
            if retry_at is not None and retry_at > now:
                continue
            assert schedule.next_run_at is not None
            wait = (schedule.next_run_at - now).total_seconds()
            return min(max(wait, MIN_SLEEP), self.tick_interval)
        return self.tick_interval

    def request_stop(self) -> None:
        """Finish the current tick and return from ``run()``; safe from a signal handler."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()
