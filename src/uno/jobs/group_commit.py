"""Group commit: concurrent enqueues share one insert statement.

A web server enqueuing for many requests at once would otherwise pay one
round trip and one commit per job. The first caller writes at once (no added
latency when idle); callers arriving while that write is in flight wait and go
together in the next one. Each caller's jobs stay all-or-nothing: when a
shared write fails on a duplicate id (a clean rollback), every caller's jobs
are written again on their own so the error reaches only its owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from uno.jobs.errors import DuplicateJob
from uno.jobs.jobs import Job

Insert = Callable[[Sequence[Job]], Awaitable[None]]

#: Enqueues of more jobs than this skip grouping (``JobSystem.enqueue_many``):
#: they are a batch already.
MAX_GROUPED = 100


class GroupCommit:
    """Coalesces concurrent ``insert`` calls on one event loop into few store calls."""

    def __init__(self, insert: Insert) -> None:
        self._insert = insert
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False
        self._waiting: list[tuple[Sequence[Job], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, jobs: Sequence[Job]) -> None:
        """Write ``jobs`` (all or none); returns once they are committed."""
        loop = asyncio.get_running_loop()
        if self._busy and loop is not self._loop:
            await self._insert(jobs)
            return
        if self._busy:
            future: asyncio.Future[None] = loop.create_future()
            self._waiting.append((jobs, future))
            await future
            return
        self._busy, self._loop = True, loop
        try:
            await self._insert(jobs)
        finally:
            if self._waiting:
                self._flusher = loop.create_task(self._flush_waiting())
            else:
                self._busy = False

    async def _flush_waiting(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                await self._write(group)
        finally:
            self._busy = False
            self._flusher = None

    async def _write(self, group: list[tuple[Sequence[Job], asyncio.Future[None]]]) -> None:
        try:
            await self._insert([job for jobs, _ in group for job in jobs])
        except DuplicateJob as exc:
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            for jobs, future in group:
                try:
                    await self._insert(jobs)
                except Exception as own:
                    _settle(future, own)
                else:
                    _settle(future, None)
            return
        except BaseException as exc:
            for _, future in group:
                _settle(future, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for _, future in group:
            _settle(future, None)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the caller gave up waiting; its jobs are written all the same
        return
    if error is None:
        future.set_result(None)
    elif isinstance(error, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(error)
