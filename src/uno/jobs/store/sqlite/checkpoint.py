"""WAL checkpoints in the background instead of inside a commit.

SQLite's automatic checkpoint runs in whichever commit makes the write-ahead
log cross its size limit: that commit (an enqueue, a worker's claim) then waits
while pages are copied into the database file and both files are synced,
several milliseconds, about once every few hundred commits: enough to set the
99th percentile of pickup latency. So the store's own connection raises the
automatic checkpoint's threshold to ``wal_size_limit``, and a thread of its own
takes over on a separate connection: a PASSIVE checkpoint, which never blocks
readers or writers. (A commit still checkpoints when a long burst of writes has
grown the WAL past that limit: copying in the background never catches up with
a writer that never pauses, and the WAL only starts over once all of it is
copied.)

The WAL is also kept small. After a burst has grown it past ``wal_size_limit``
and a PASSIVE checkpoint has copied all of it, a TRUNCATE checkpoint gives the
space back to the disk. On a full disk this is what lets work resume: once the
room freed is enough to copy the WAL into the database file, the WAL shrinks to
nothing and writes have room again. A write that fails for lack of room nudges
the thread, so it tries at once instead of at its next tick.

Failures other than "busy" (another process checkpoints, a reader holds the
WAL) are logged: the first at once, then at most one line every
``log_interval`` seconds with the number of failures in between.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable

from uno.jobs.store.sqlite import faults

log = logging.getLogger(__name__)


class FailureLog:
    """Logs a repeating failure at most once per ``interval`` seconds, counting the rest."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.suppressed = 0
        self.failing = False
        self._last: float | None = None

    def failed(self, what: str, exc: BaseException) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            self.suppressed += 1
            return
        more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
        log.warning("%s failed: %s%s", what, exc, more)
        self._last, self.suppressed, self.failing = now, 0, True

    def recovered(self, what: str) -> None:
        if self.failing:
            more = f" after {self.suppressed} more failures" if self.suppressed else ""
            log.warning("%s works again%s", what, more)
        self._last, self.suppressed, self.failing = None, 0, False


class Checkpointer:
    """Checkpoints one database's WAL every ``interval`` seconds while running."""

    #: Bytes past which a fully checkpointed WAL is truncated (also the store's
    #: ``journal_size_limit``).
    wal_size_limit = 16 * 1024 * 1024

    def __init__(self, path: str, interval: float = 0.5, log_interval: float = 60.0) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        self.truncations = 0
        self.failures = FailureLog(log_interval)
        self._stop = threading.Event()
        self._nudge = threading.Event()
        self._truncate = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"uno-jobs checkpoint {self.path}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._nudge.set()
            thread.join(timeout=10)

    def nudge(self) -> None:
        """Checkpoint and truncate now: a write found no room, the WAL may hold it."""
        self._truncate = True
        self._nudge.set()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
            conn.execute(f"PRAGMA journal_size_limit = {self.wal_size_limit}")
        except sqlite3.Error:
            log.exception("cannot open %s for checkpoints", self.path)
            return
        try:
            while not self._stop.is_set():
                self._nudge.wait(self.interval)
                self._nudge.clear()
                if not self._stop.is_set():
                    self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint (copies what no reader still needs, waits for no
        one), then a TRUNCATE one when the WAL is all copied and has grown large."""
        what = f"WAL checkpoint of {self.path}"
        try:
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames > 0 and done > 0:
                self.checkpoints += 1
            if not busy and frames == done and (self._truncate or self._wal_too_big()):
                if self._wal_size() > 0:
                    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    self.truncations += not busy
                self._truncate = self._truncate and bool(busy)  # busy: try again next time
        except sqlite3.Error as exc:
            if not faults.is_busy(exc):  # busy: another process does it, or a reader
                self._truncate = self._truncate or faults.is_full(exc)
                self.failures.failed(what, exc)
            return
        self.failures.recovered(what)

    def _wal_size(self) -> int:
        try:
            return os.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    def _wal_too_big(self) -> bool:
        return self._wal_size() > self.wal_size_limit
