"""The producer's wake-up: what ends its waits between claims.

A job that finishes, a stop that is asked, the store saying that work may be due
(a wake-up channel), a rescue or a retry written: each rings it, so the loop
claims again at once instead of on a timer, and knows whether a claim may find
work (``work``) or only room was freed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


class Doorbell:
    """Ends the loop's waits: rung when a job finishes or a stop is asked, and
    rung ``for_work`` when jobs may have become due (``work`` stays set until
    the next claim)."""

    __slots__ = ("_wake", "work")

    def __init__(self) -> None:
        self._wake: asyncio.Future[None] | None = None
        #: Whether a claim may find work: set by a full batch, a store wake-up, a
        #: retry written or a rescue; cleared by each claim.
        self.work = True

    def ring(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def ring_for_work(self) -> None:
        self.work = True
        self.ring()

    async def wait(self, timeout: float | None) -> None:
        """Until rung, or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        timer = loop.call_later(timeout, self.ring) if timeout is not None else None
        try:
            await wake
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()

    async def wait_for_work(self, store_wait: Awaitable[None], timeout: float | None) -> None:
        """Until rung, the store says work may be due, or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        waiting = asyncio.ensure_future(store_wait)
        try:
            done, _ = await asyncio.wait(
                {wake, waiting}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if waiting in done:
                self.work = True
        finally:
            self._wake = None
            if not waiting.done():
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)
