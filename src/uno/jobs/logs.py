"""The command line's log output: text or JSON lines, written in short batches.

``uno-jobs worker`` logs one INFO line per job outcome, which is as much work as
running a no-op job if every line goes through the whole of ``logging`` and is
written and flushed alone. So the commands log through a ``LineHandler``:

- Lines are buffered and written together at most ``LineHandler.interval``
  (0.2 s) after the first of them, when a line of WARNING or above comes (it and
  everything before it are written at once), when many are waiting, and when the
  process exits cleanly (``logging.shutdown``, which runs after SIGTERM or SIGINT
  stopped a worker). A process killed with SIGKILL loses the INFO and DEBUG lines
  of its last 0.2 s at most.
- Outcome lines (``log_lines``) are written straight to that handler, without a
  ``LogRecord``, when it is the only handler they would reach and no filter is on
  the way; else they are records like any other (an application's own handlers,
  pytest's ``caplog``). Either way each is one line, with the same text.
- The time of a line is formatted once per second, not once per line.

A job's outcome line carries its fields (task, job id, queue, attempt, duration,
outcome, error type and message) as keys of their own in JSON lines, and as
``record.job_outcome`` on a record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import IO, Any, Generic, TypeVar

#: Text lines: ``2026-11-29 16:30:52,123 INFO uno.jobs.worker.outcomes: job completed: ...``
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
T = TypeVar("T")
#: What a line says (its message) and its fields (JSON keys, ``record.job_outcome``).
Fields = dict[str, object]

_encode_json = json.JSONEncoder(ensure_ascii=False, default=str).encode


class LineFormatter(logging.Formatter):
    """``TEXT_FORMAT``, the time formatted once per second (the zone can only change
    on a whole second, so the cache is exact)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self._asctime(record.created, record.msecs)

    def _asctime(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(created))
            self._second = second
        return f"{self._stamp},{int(msecs):03d}"

    def entry_lines(self, created: float, levelno: int, name: str, lines: Lines[Any]) -> list[str]:
        """The lines records of these messages, made at ``created``, would be."""
        asctime = self._asctime(created, _msecs(created))
        head = f"{asctime} {logging.getLevelName(levelno)} {name}: "
        message = lines.message
        return [head + message(item) for item in lines.items]


class JsonFormatter(LineFormatter):
    """One JSON object per line: time, level, logger, message, an outcome's fields,
    and the traceback of a record that carries one."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "job_outcome", None)
        document = _document(record.created, record.levelname, record.name, record.getMessage())
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return str(_encode_json(document))

    def entry_lines(self, created: float, levelno: int, name: str, lines: Lines[Any]) -> list[str]:
        head = _document(created, logging.getLevelName(levelno), name, "")
        found = []
        for item in lines.items:
            document = {**head, "message": lines.message(item)}
            document.update(lines.fields(item))
            found.append(str(_encode_json(document)))
        return found


def _document(created: float, levelname: str, name: str, message: str) -> dict[str, Any]:
    return {
        "time": datetime.fromtimestamp(created, UTC).isoformat(),
        "level": levelname.lower(),
        "logger": name,
        "message": message,
    }


def _msecs(created: float) -> float:
    """``LogRecord.msecs`` of a record created at ``created``."""
    return (created - int(created)) * 1000


class Lines(Generic[T]):
    """Lines to log, one per item: ``message(item)`` and ``fields(item)``, the fields
    asked for only where they are shown (JSON lines, records)."""

    __slots__ = ("fields", "items", "message")

    def __init__(
        self, items: Sequence[T], message: Callable[[T], str], fields: Callable[[T], Fields]
    ) -> None:
        self.items = items
        self.message = message
        self.fields = fields


_handlers: weakref.WeakSet[LineHandler] = weakref.WeakSet()


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes lines in batches: at most ``interval`` seconds after the first one,
    at once for a record at ``flush_level`` or above (after the lines before it),
    once ``max_lines`` wait, and on ``flush``/``close`` (``logging.shutdown``)."""

    #: Longest time a line waits before it is written.
    interval = 0.2
    #: Lines that wait at most: more are written at once.
    max_lines = 1000
    #: Records at this level or above are written at once.
    flush_level = logging.WARNING

    def __init__(self, stream: IO[str] | None = None, *, interval: float | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        if interval is not None:
            self.interval = interval
        self._lines: list[str] = []
        self._armed = False
        self._due = threading.Event()
        self._closed = False
        self._timer: threading.Thread | None = None
        _handlers.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._add([self.format(record)], record.levelno >= self.flush_level)
        except Exception:
            self.handleError(record)

    def write_lines(self, levelno: int, name: str, lines: Lines[Any]) -> None:
        """``lines`` as records of ``levelno`` from logger ``name``, made now, would be
        formatted; the caller has checked that they reach only this handler, and
        this handler's level."""
        formatter = self.formatter
        assert isinstance(formatter, LineFormatter)
        text = formatter.entry_lines(time.time(), levelno, name, lines)
        with self.lock:  # type: ignore[union-attr]
            self._add(text, levelno >= self.flush_level)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()
            self._closed = True
        self._due.set()  # the timer thread sees ``_closed`` and ends
        super().close()

    def _add(self, lines: list[str], now: bool) -> None:
        """Buffer ``lines`` (the handler's lock is held)."""
        self._lines += lines
        if now or len(self._lines) >= self.max_lines or self._closed:
            self._write()
        elif not self._armed:
            self._armed = True
            self._start_timer()
            self._due.set()

    def _write(self) -> None:
        """Write the buffered lines and flush the stream (the lock is held)."""
        self._armed = False
        lines, self._lines = self._lines, []
        stream = self.stream
        if lines:
            stream.write(self.terminator.join(lines) + self.terminator)
        if hasattr(stream, "flush"):
            stream.flush()

    def _start_timer(self) -> None:
        timer = self._timer
        if timer is None or not timer.is_alive():
            self._timer = threading.Thread(
                target=self._write_when_due, name="uno-jobs-log", daemon=True
            )
            self._timer.start()

    def _write_when_due(self) -> None:
        """The timer thread: the buffered lines written ``interval`` after the first."""
        while not self._closed:
            self._due.wait()
            time.sleep(self.interval)
            with self.lock:  # type: ignore[union-attr]
                self._due.clear()
                if self._armed:
                    with contextlib.suppress(Exception):  # a broken stream: the lines
                        self._write()  # are dropped, as those of a failed emit are

    def _after_fork(self) -> None:
        """In a forked child: the parent's lines are the parent's to write, and the
        timer thread did not come along."""
        self._lines, self._armed, self._timer = [], False, None
        self._due = threading.Event()


def _after_fork_in_child() -> None:
    for handler in list(_handlers):
        handler._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def log_lines(logger: logging.Logger, levelno: int, lines: Lines[Any]) -> None:
    """Log one line per item at ``levelno`` on ``logger``, its fields as
    ``record.job_outcome``: written straight to the ``LineHandler`` when it is
    the only place the records would go (see ``direct_handler``)."""
    if not lines.items or not logger.isEnabledFor(levelno):
        return
    handler = direct_handler(logger, levelno)
    if handler is not None:
        handler.write_lines(levelno, logger.name, lines)
        return
    for item in lines.items:
        extra = {"job_outcome": lines.fields(item)}
        logger.log(levelno, lines.message(item), extra=extra, stacklevel=2)


def direct_handler(logger: logging.Logger, levelno: int) -> LineHandler | None:
    """The ``LineHandler`` (with one of this module's formatters) that a record of
    ``levelno`` from ``logger`` would reach alone, with no filter on the way and
    records made by ``logging``'s own classes; None when there is none such."""
    if type(logger) is not logging.Logger or logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found: LineHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if levelno < handler.level:
                continue
            if found is not None or not _plain_line_handler(handler):
                return None
            found = handler  # type: ignore[assignment]
        current = current.parent if current.propagate else None
    return found


def _plain_line_handler(handler: logging.Handler) -> bool:
    return (
        type(handler) is LineHandler
        and not handler.filters
        and type(handler.formatter) in (LineFormatter, JsonFormatter)
    )
