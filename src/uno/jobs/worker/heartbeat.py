"""Proving this worker alive, and taking back the jobs of workers that are not.

Every worker does both: there is no coordinator to lose. ``rescue_jobs`` is one
statement and safe to run from many workers at once.

A silent worker is not always a dead one: when the store is unreachable for
everyone (a database restart, a lock held too long, a host paused), every
worker's heartbeats fail together, and the first one back would otherwise take
the others' running jobs and run them twice. So a worker rescues only what it
has watched stay silent: it must itself have beaten successfully, without a
break, for ``rescue_after`` seconds, and it rescues only workers whose last beat
is older than that window. Those workers were silent while the store answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from uno.jobs.clock import Clock
from uno.jobs.store import RescuedJob, Store
from uno.jobs.workers import WorkerCounts

log = logging.getLogger("uno.jobs.worker")


class BeatStreak:
    """This worker's current unbroken run of successful heartbeats.

    A failed beat breaks the run, and so does a beat that comes more than
    ``max_gap`` seconds after the previous one: a pause of this process (or of
    its whole host) may have silenced the other workers just as long, so it
    proves nothing about them.
    """

    def __init__(self, max_gap: float) -> None:
        self.max_gap = max_gap
        #: The first successful beat of the current run; None while there is none.
        self.since: datetime | None = None
        #: The latest successful beat of the current run.
        self.last: datetime | None = None

    def beat_succeeded(self, at: datetime) -> None:
        if self.since is None or self.last is None or self._gap(self.last, at):
            self.since = at
        self.last = at

    def beat_failed(self) -> None:
        self.since = self.last = None

    def covers(self, now: datetime, seconds: float) -> bool:
        """True when the run has lasted ``seconds`` up to ``now`` (and is not stale)."""
        if self.since is None or self.last is None or self._gap(self.last, now):
            return False
        return (now - self.since).total_seconds() >= seconds

    def _gap(self, before: datetime, after: datetime) -> bool:
        return (after - before).total_seconds() > self.max_gap


class Heartbeat:
    """Beats every ``interval`` seconds and rescues jobs of workers that stayed
    silent for ``rescue_after`` seconds while this one was beating."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        worker_id: str,
        interval: float,
        rescue_after: float,
        on_rescued: Callable[[list[RescuedJob]], None] | None = None,
        counts: Callable[[], WorkerCounts] | None = None,
    ) -> None:
        """``counts``: the worker's counts since it registered, which every beat
        writes (the outcome statements do not)."""
        self.store = store
        self.clock = clock
        self.worker_id = worker_id
        self.interval = interval
        self.rescue_after = rescue_after
        self.on_rescued = on_rescued
        self.counts = counts
        # Two missed beats break the run; so does a pause of half the rescue window,
        # short enough that no worker silenced by the same pause can look dead.
        self.streak = BeatStreak(max(2 * interval, rescue_after / 2))

    async def beat(self) -> None:
        try:
            counts = None if self.counts is None else self.counts()
            await self.store.heartbeat(self.worker_id, self.clock.now(), counts=counts)
        except BaseException:
            self.streak.beat_failed()
            raise
        self.streak.beat_succeeded(self.clock.now())

    async def rescue(self) -> list[RescuedJob]:
        """Take back jobs held by silent workers: retried, or failed when out of retries.

        Nothing is taken before this worker's own beats have covered the last
        ``rescue_after`` seconds without a break (see ``BeatStreak``).
        """
        now = self.clock.now()
        if not self.streak.covers(now, self.rescue_after):
            return []
        rescued = await self.store.rescue_jobs(now - timedelta(seconds=self.rescue_after), now)
        if rescued:
            log.warning(
                "rescued %d job(s) from workers silent for over %gs: %s",
                len(rescued),
                self.rescue_after,
                ", ".join(r.job_id for r in rescued[:20]) + (" ..." if len(rescued) > 20 else ""),
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
