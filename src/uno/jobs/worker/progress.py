"""What a worker has done so far, and awaitables on it.

A test in the worker's own process waits on these instead of polling the store:

    await worker.progress.until(lambda p: p.started >= 1)   # a job is running
    await worker.progress.next_flush()                      # outcomes were written

The counters move once per claim and once per flush, not once per job, and
waking costs nothing while nobody waits: the worker's hot path stays as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Condition = Callable[["Progress"], bool]


class Progress:
    """Counters of one worker: jobs launched, outcomes written, flushes done."""

    __slots__ = (
        "_waiters",
        "cancelled_running",
        "failed",
        "flushes",
        "processed",
        "started",
        "written",
    )

    def __init__(self) -> None:
        #: Jobs claimed and launched.
        self.started = 0
        #: Attempts whose outcome was written (or dropped: rescued meanwhile).
        self.written = 0
        #: Outcomes the store took (not those it refused), and of which failures:
        #: the worker's counts, which its heartbeat writes (``WorkerCounts``).
        self.processed = 0
        self.failed = 0
        #: Flushes that reached the store.
        self.flushes = 0
        #: Jobs cancelled while running here, stopped (or abandoned) without an outcome.
        self.cancelled_running = 0
        self._waiters: list[tuple[Condition, asyncio.Future[None]]] = []

    def launched(self, count: int) -> None:
        self.started += count
        if self._waiters:
            self._wake()

    def flushed(self, count: int, processed: int = 0, failed: int = 0) -> None:
        self.written += count
        self.processed += processed
        self.failed += failed
        self.flushes += 1
        if self._waiters:
            self._wake()

    def cancelled(self) -> None:
        self.cancelled_running += 1
        if self._waiters:
            self._wake()

    async def until(self, condition: Condition, timeout: float | None = 10.0) -> None:
        """Return once ``condition(progress)`` holds; ``TimeoutError`` after ``timeout``."""
        if condition(self):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (condition, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def next_flush(self, timeout: float | None = 10.0) -> None:
        """Return after the next flush that reaches the store."""
        seen = self.flushes
        await self.until(lambda progress: progress.flushes > seen, timeout)

    def _wake(self) -> None:
        for condition, waiter in list(self._waiters):
            if not waiter.done() and condition(self):
                waiter.set_result(None)
