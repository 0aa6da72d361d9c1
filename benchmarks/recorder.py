"""The per-process buffer of job start times, imported by every benchmark task.

A task calls ``record(enqueued_at)`` as its only work. The start time
(``time.time()``) and the enqueue time carried in the job's arguments are kept
in memory and written to ``$BENCH_RECORD_DIR/<pid>.rec`` in batches: every
``FLUSH_EVERY`` records, by a background thread every ``FLUSH_INTERVAL`` seconds
for the tail, and at exit. The harness reads those files, so what is measured is
never capped by a per-job round trip to the harness.
"""

from __future__ import annotations

import atexit
import os
import threading
import time

FLUSH_EVERY = 1000
FLUSH_INTERVAL = 0.2

_lock = threading.Lock()
_buffer: list[tuple[float, float]] = []
_owner_pid: int | None = None
_path: str | None = None


def record(enqueued_at: float) -> None:
    """Note that a job enqueued at ``enqueued_at`` starts now."""
    started = time.time()
    if _owner_pid != os.getpid():
        _start()
    with _lock:
        _buffer.append((started, float(enqueued_at)))
        full = len(_buffer) >= FLUSH_EVERY
    if full:
        flush()


def flush() -> None:
    global _buffer
    with _lock:
        if not _buffer or _path is None:
            return
        batch, _buffer = _buffer, []
        text = "".join(f"{s!r} {e!r}\n" for s, e in batch)
        fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def _start() -> None:
    """Begin buffering in this process (also after a fork)."""
    global _owner_pid, _path, _buffer
    with _lock:
        if _owner_pid == os.getpid():
            return
        _buffer = []
        directory = os.environ.get("BENCH_RECORD_DIR")
        _path = os.path.join(directory, f"{os.getpid()}.rec") if directory else None
        _owner_pid = os.getpid()
    threading.Thread(target=_flush_periodically, name="bench-recorder", daemon=True).start()
    atexit.register(flush)


def _flush_periodically() -> None:
    while True:
        time.sleep(FLUSH_INTERVAL)
        flush()
