"""Progress reports of running jobs, written throttled.

A task may report progress on every step of a loop; the store sees at most one
write per job per interval, carrying the latest report (a report is never lost,
only merged with the next ones). Reports arrive from any thread; the writes run
on the worker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("uno.jobs.worker")

#: ``write(job_id, fraction, message)``: the store write of one report.
WriteProgress = Callable[[str, float | None, str | None], Awaitable[Any]]


class ProgressReporter:
    """One job's reports: ``reporter(fraction, message)`` from any thread."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        write: WriteProgress,
        job_id: str,
        interval: float,
    ) -> None:
        self._loop = loop
        self._write = write
        self._job_id = job_id
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: tuple[float | None, str | None] | None = None
        self._scheduled = False
        self._last = -math.inf
        self._writing: set[asyncio.Future[Any]] = set()

    def __call__(self, fraction: float | None, message: str | None) -> None:
        with self._lock:
            self._pending = (fraction, message)
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # a closed loop: the worker is gone
            self._loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        delay = max(0.0, self._last + self._interval - self._loop.time())
        self._loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
            self._scheduled = False
        if pending is None:
            return
        self._last = self._loop.time()
        task: asyncio.Future[Any] = asyncio.ensure_future(
            self._write(self._job_id, *pending), loop=self._loop
        )
        self._writing.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Future[Any]) -> None:
        self._writing.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("progress of job %s not written: %s", self._job_id, exc)
