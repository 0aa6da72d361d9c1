"""Get Job Statistics, computed once for every caller that asks at the same time.

Every store answers ``job_groups`` with one pass over the jobs, grouped by
(status, queue, priority), each group carrying its count and the sums behind the
two averages; ``JobStats.from_groups`` (``uno.jobs.queries``) turns those rows
into statistics, and the job system shares them through ``SharedStats``.

Counting a million jobs still reads a million rows. An index or counters kept
up to date by triggers would make that read cheap, but every enqueue, claim and
completion would then pay for it, and those are the paths the store is built
for. So the read is made rare instead: ``SharedStats`` lets every caller that
arrives while a computation runs wait for that one, and reuses a result for a
few times as long as it took to compute (half a minute at most). A small table is counted afresh on
every call (read-your-writes); a large one is at most a few computation times
old, and however many dashboards poll, the database spends at most a fraction
of its time counting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from uno.jobs.queries import JobStats


class SharedStats:
    """One stats computation at a time, shared by the callers that wait for it.

    Callers that find a computation running wait for their turn (a cheap one)
    or for its result (a costly one), so polling dashboards keep at most one
    reading connection busy and leave the others to lists and lookups.

    A result is reused for ``reuse_factor`` times as long as it took to compute
    (at most ``max_reuse`` seconds), and only when that took at least ``costly``
    seconds: below that, every call counts afresh and sees every write made
    before it. ``costly`` is far above what counting a small table takes, even
    on a loaded machine, so tests and small installations never see a reused
    result.
    """

    def __init__(
        self,
        compute: Callable[[], Awaitable[JobStats]],
        *,
        costly: float = 0.25,
        reuse_factor: float = 4.0,
        max_reuse: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.compute = compute
        self.costly = costly
        self.reuse_factor = reuse_factor
        self.max_reuse = max_reuse
        self.clock = clock
        self.computations = 0
        self._result: JobStats | None = None
        self._fresh_until = 0.0
        self._last_was_costly = False
        self._running: asyncio.Future[JobStats] | None = None
        self._turn: asyncio.Lock | None = None

    async def get(self) -> JobStats:
        if self._result is not None and self.clock() < self._fresh_until:
            return self._result
        if not self._last_was_costly:  # cheap: count afresh, share nothing
            return await self._compute()
        if self._running is None:
            self._running = running = asyncio.ensure_future(self._compute())
            running.add_done_callback(self._finished)
        # shield: a caller that gives up does not cancel the others' computation
        return await asyncio.shield(self._running)

    def _finished(self, running: asyncio.Future[JobStats]) -> None:
        self._running = None
        if not running.cancelled():
            running.exception()  # retrieved here too, in case every caller gave up

    async def _compute(self) -> JobStats:
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            started = self.clock()
            self.computations += 1
            result = await self.compute()
            took = self.clock() - started
        self._last_was_costly = took >= self.costly
        if self._last_was_costly:
            reuse = min(took * self.reuse_factor, self.max_reuse)
            self._result, self._fresh_until = result, self.clock() + reuse
        else:
            self._result = None
        return result
