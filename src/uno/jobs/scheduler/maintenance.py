"""Housekeeping the scheduler loop does now and then: pruning old finished jobs.

Pruning is idempotent, so several schedulers may do it at once; each does it
every few minutes, not every tick, to keep the database quiet.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uno.jobs.system import JobSystem

log = logging.getLogger("uno.jobs.scheduler")

#: Seconds between two rounds of maintenance.
DEFAULT_EVERY = 300.0


class Maintenance:
    """Deletes finished jobs older than ``settings.retention`` every ``every`` seconds."""

    def __init__(self, system: JobSystem, *, every: float = DEFAULT_EVERY) -> None:
        self.system = system
        self.every = timedelta(seconds=every)
        self._next: datetime | None = None

    async def run_if_due(self, now: datetime) -> int | None:
        """Prune when a round is due (the first call always is); None when not due."""
        if self._next is not None and now < self._next:
            return None
        self._next = now + self.every
        return await self.run(now)

    async def run(self, now: datetime) -> int:
        """One round now: return how many finished jobs were deleted."""
        retention = self.system.settings.retention
        if retention <= 0:
            return 0
        pruned = await self.system.store.prune_jobs(now - timedelta(seconds=retention))
        if pruned:
            log.info("Pruned %d finished jobs older than %gs", pruned, retention)
        return pruned
