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

Past that reuse, a large table's last result is still answered at once (for at
most ``stale_for`` seconds after it was counted) while one computation refreshes
it in the background: a dashboard never waits for a count it has already seen.
And each costly result is kept in the store (``save``), so that a process that
starts answers from the last one (``load``) instead of counting first: as Sidekiq
and Oban Web do, the totals shown are exact as of a moment a few seconds back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from uno.jobs.queries import JobStats

log = logging.getLogger("uno.jobs")

#: A costly result (and a kept one) is answered for this long after it was counted.
STALE_FOR = 300.0

#: The last kept statistics: the statistics, seconds since counted, seconds it took.
Loaded = tuple[JobStats, float, float]


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
        stale_for: float = 0.0,
        load: Callable[[], Awaitable[Loaded | None]] | None = None,
        save: Callable[[JobStats, float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.compute = compute
        self.costly = costly
        self.reuse_factor = reuse_factor
        self.max_reuse = max_reuse
        self.stale_for = stale_for
        self.load = load
        self.save = save
        self.clock = clock
        self.computations = 0
        self._result: JobStats | None = None
        self._fresh_until = 0.0
        self._stale_until = 0.0
        self._last_was_costly = False
        self._running: asyncio.Future[JobStats] | None = None
        self._turn: asyncio.Lock | None = None
        self._loading: asyncio.Lock | None = None
        self._loaded = load is None
        #: The call ``within`` stopped waiting for, which the next one picks up.
        self._waited: asyncio.Future[JobStats] | None = None

    async def get(self) -> JobStats:
        if not self._loaded:
            await self._load()
        now = self.clock()
        if self._result is not None and now < self._fresh_until:
            return self._result
        if self._result is not None and now < self._stale_until:
            self._start()  # answer the last result; the next caller gets a fresh one
            return self._result
        if not self._last_was_costly:  # cheap: count afresh, share nothing
            return await self._compute()
        # shield: a caller that gives up does not cancel the others' computation
        return await asyncio.shield(self._start())

    async def within(self, seconds: float) -> JobStats | None:
        """``get``, or ``None`` when no result is at hand within ``seconds`` (a large
        table's first count after a start): the count goes on, and a later call
        answers from it instead of counting again."""
        if self._waited is None or self._waited.done():
            self._waited = asyncio.ensure_future(self.get())
            # a count that fails after its caller stopped waiting has nobody to tell:
            # its error is taken here, and the next call counts again (and answers it)
            self._waited.add_done_callback(_taken)
        waited = self._waited
        done, _ = await asyncio.wait({waited}, timeout=seconds)
        if not done:
            return None
        self._waited = None
        return waited.result()

    async def stop(self) -> None:
        """Cancel a computation in progress (the process is closing)."""
        for pending in (self._running, self._waited):
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
        self._waited = None

    def _start(self) -> asyncio.Future[JobStats]:
        if self._running is None:
            self._running = running = asyncio.ensure_future(self._compute())
            running.add_done_callback(self._finished)
        return self._running

    async def _load(self) -> None:
        """The kept result, once per process, when it was costly and is recent enough."""
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:
            if self._loaded or self.load is None:
                return
            try:
                found = await self.load()
            except Exception as exc:  # a fault here only means counting first
                log.warning("Reading the last job statistics failed: %s", exc)
                found = None
            self._loaded = True
        if found is not None and found[2] >= self.costly and found[1] < self.stale_for:
            stats, age, _took = found
            now = self.clock()
            self._result, self._fresh_until = stats, now
            self._stale_until, self._last_was_costly = now + self.stale_for - age, True

    def _finished(self, running: asyncio.Future[JobStats]) -> None:
        self._running = None
        if not running.cancelled() and running.exception() is not None:
            # retrieved here too, in case every caller gave up (or none waited)
            log.warning("Counting the job statistics failed: %s", running.exception())

    async def _compute(self) -> JobStats:
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            if self._result is not None and self.clock() < self._fresh_until:
                return self._result  # counted while this call waited for its turn
            started = self.clock()
            self.computations += 1
            result = await self.compute()
            took = self.clock() - started
        self._last_was_costly = took >= self.costly
        if self._last_was_costly:
            reuse = min(took * self.reuse_factor, self.max_reuse)
            now = self.clock()
            self._result, self._fresh_until = result, now + reuse
            self._stale_until = now + self.stale_for
            await self._keep(result, took)
        else:
            self._result = None
        return result

    async def _keep(self, result: JobStats, took: float) -> None:
        if self.save is None:
            return
        try:
            await self.save(result, took)
        except Exception as exc:  # the next start counts first, as without it
            log.warning("Keeping the job statistics failed: %s", exc)


def _taken(done: asyncio.Future[JobStats]) -> None:
    if not done.cancelled():
        done.exception()
