"""WAL checkpoints in the background instead of inside a commit.

SQLite's automatic checkpoint runs in whichever commit makes the write-ahead
log cross its size limit: that commit (an enqueue, a worker's claim) then waits
while pages are copied into the database file and both files are synced,
several milliseconds, about once every few hundred commits: enough to set the
99th percentile of pickup latency. So the store's own connection turns the
automatic checkpoint off, and a thread of its own takes over on a separate
connection: a PASSIVE checkpoint, which never blocks readers or writers.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)


class Checkpointer:
    """Checkpoints one database's WAL every ``interval`` seconds while running."""

    def __init__(self, path: str, interval: float = 0.5) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        self._stop = threading.Event()
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
            thread.join(timeout=10)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
        except sqlite3.Error:
            log.exception("cannot open %s for checkpoints", self.path)
            return
        try:
            while not self._stop.wait(self.interval):
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint: copies what no reader still needs, waits for no one."""
        with contextlib.suppress(sqlite3.OperationalError):  # busy: another process does it
            _busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames > 0 and done > 0:
                self.checkpoints += 1
