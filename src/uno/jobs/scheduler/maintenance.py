"""Housekeeping the scheduler loop does now and then: pruning what has aged out.

Finished jobs and schedule occurrences older than ``settings.retention`` are
deleted in bounded rounds (``Store.prune``), each a short transaction, with a
pause between rounds, so a backlog of millions never holds the database for
long and enqueues and claims go on meanwhile. One runner at a time: every
scheduler has a ``Maintenance``, but a round asked for while another runner
holds the maintenance lease does nothing, and that scheduler tries again at its
next due time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from uno.jobs.store.base import PruneRequest

if TYPE_CHECKING:
    from uno.jobs.system import JobSystem

log = logging.getLogger("uno.jobs.scheduler")

#: Seconds between two runs of maintenance.
DEFAULT_EVERY = 300.0
#: Rows of each kind one round deletes at most.
DEFAULT_BATCH = 5_000
#: Seconds to wait between two rounds, leaving the database to other writers.
DEFAULT_PAUSE = 0.05
#: Seconds the lease outlives a round: a runner that dies mid-run holds the
#: others off for this long at most.
LEASE = 60.0


def never() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class MaintenanceRun:
    """What one run deleted; ``skipped`` when another runner held the lease."""

    jobs: int = 0
    occurrences: int = 0
    rounds: int = 0
    skipped: bool = False


class Maintenance:
    """Prunes finished jobs and schedule occurrences older than ``settings.retention``
    every ``every`` seconds, ``batch`` rows of each kind per round."""

    def __init__(
        self,
        system: JobSystem,
        *,
        every: float = DEFAULT_EVERY,
        batch: int = DEFAULT_BATCH,
        pause: float = DEFAULT_PAUSE,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be 1 or more")
        self.system = system
        self.every = timedelta(seconds=every)
        self.batch = batch
        self.pause = pause
        #: Names this runner in the maintenance lease.
        self.runner = uuid.uuid4().hex
        self._next: datetime | None = None

    def due(self, now: datetime) -> bool:
        """True when a run is due (the first always is)."""
        return self._next is None or now >= self._next

    async def run_if_due(self, now: datetime, stopping: Callable[[], bool] = never) -> int | None:
        """Prune when a run is due; None when not due, else how many finished
        jobs were deleted."""
        if not self.due(now):
            return None
        self._next = now + self.every
        return (await self.run(now, stopping)).jobs

    async def run(self, now: datetime, stopping: Callable[[], bool] = never) -> MaintenanceRun:
        """Rounds until nothing old is left, another runner holds the lease, or
        ``stopping()`` says so (checked before each round)."""
        retention = self.system.settings.retention
        if retention <= 0:
            return MaintenanceRun()
        before = now - timedelta(seconds=retention)
        jobs = occurrences = rounds = 0
        while not stopping():
            at = self.system.clock.now()
            request = PruneRequest(
                runner=self.runner,
                before=before,
                limit=self.batch,
                now=at,
                lease_until=at + timedelta(seconds=LEASE),
            )
            pruned = await self.system.store.prune(request)
            if pruned is None:
                if rounds == 0:
                    log.debug("Maintenance skipped: another runner holds the lease")
                    return MaintenanceRun(skipped=True)
                break  # the lease ran out mid-run and another runner took over
            rounds += 1
            jobs += pruned.jobs
            occurrences += pruned.occurrences
            if pruned.jobs < self.batch and pruned.occurrences < self.batch:
                break
            await asyncio.sleep(self.pause)
        if jobs or occurrences:
            log.info(
                "Pruned %d finished jobs and %d schedule occurrences older than %gs in %d rounds",
                jobs,
                occurrences,
                retention,
                rounds,
            )
        return MaintenanceRun(jobs=jobs, occurrences=occurrences, rounds=rounds)
