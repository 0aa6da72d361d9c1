"""Proving this worker alive, and taking back the jobs of workers that are not.

Every worker does both: there is no coordinator to lose. ``rescue_jobs`` is one
statement and safe to run from many workers at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from uno.jobs.clock import Clock
from uno.jobs.store import RescuedJob, Store

log = logging.getLogger("uno.jobs.worker")


class Heartbeat:
    """Beats every ``interval`` seconds and rescues jobs of workers silent for
    ``rescue_after`` seconds."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        worker_id: str,
        interval: float,
        rescue_after: float,
        on_rescued: Callable[[list[RescuedJob]], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.worker_id = worker_id
        self.interval = interval
        self.rescue_after = rescue_after
        self.on_rescued = on_rescued

    async def beat(self) -> None:
        await self.store.heartbeat(self.worker_id, self.clock.now())

    async def rescue(self) -> list[RescuedJob]:
        """Take back jobs held by silent workers: retried, or failed when out of retries."""
        now = self.clock.now()
        rescued = await self.store.rescue_jobs(now - timedelta(seconds=self.rescue_after), now)
        if rescued:
            log.warning(
                "rescued %d job(s) from workers silent for over %gs",
                len(rescued),
                self.rescue_after,
            )
            if self.on_rescued is not None:
                self.on_rescued(rescued)
        return rescued

    async def run(self) -> None:
        """Beat and rescue until cancelled; a failing store is logged, not fatal."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
                await self.rescue()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("heartbeat of worker %s failed", self.worker_id)
