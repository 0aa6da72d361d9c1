"""The worker's outcome lines and the command line's log handler: one line per
outcome with its fields, in text and JSON, written in batches no later than the
handler's interval, at once for warnings, and at exit."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from uno.jobs import JobSystem, Settings
from uno.jobs.clock import ManualClock
from uno.jobs.logs import (
    TEXT_FORMAT,
    JsonFormatter,
    LineFormatter,
    LineHandler,
    Lines,
    direct_handler,
    log_lines,
)
from uno.jobs.store.base import Store
from uno.jobs.worker import Worker
from uno.jobs.worker.completer import FlushPolicy

OUTCOMES = "uno.jobs.worker.outcomes"
FIELDS = {"task", "job_id", "queue", "attempt", "duration", "outcome"}


class Written(io.StringIO):
    """A stream that tells when something was written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.wrote = threading.Event()

    def write(self, text: str) -> int:
        count = super().write(text)
        self.wrote.set()
        return count


@pytest.fixture
def outcome_logger() -> Iterator[logging.Logger]:
    """The outcome logger on its own (no propagation), put back afterwards."""
    logger = logging.getLogger(OUTCOMES)
    saved = (logger.level, logger.propagate, list(logger.handlers), list(logger.filters))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.handlers = []
    try:
        yield logger
    finally:
        for handler in logger.handlers:
            handler.close()
        logger.level, logger.propagate, logger.handlers, logger.filters = saved
        logger.setLevel(saved[0])


def alone(logger: logging.Logger, handler: logging.Handler) -> None:
    """``handler`` as the logger's only one: pytest attaches its capture handlers to
    every non-propagating logger when a test starts."""
    logger.handlers = [handler]


def line_handler(stream: io.StringIO, formatter: LineFormatter, **kw: float) -> LineHandler:
    handler = LineHandler(stream, **kw)
    handler.setFormatter(formatter)
    return handler


@pytest.fixture
async def system(store: Store, clock: ManualClock) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock, settings=Settings(concurrency=4))

    @jobs.task(max_retries=0)
    async def fine(n: int) -> int:
        return n

    @jobs.task(max_retries=0)
    async def broken(text: str) -> None:
        raise ValueError(text)

    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


async def drain(system: JobSystem) -> None:
    worker = Worker(system, flush=FlushPolicy.inline())
    await worker.run(until_empty=True)


# -- the worker's lines -------------------------------------------------------------
async def test_one_json_line_per_outcome_with_its_fields(
    system: JobSystem, outcome_logger: logging.Logger
) -> None:
    stream = Written()
    handler = line_handler(stream, JsonFormatter())
    alone(outcome_logger, handler)
    assert direct_handler(outcome_logger, logging.INFO) is handler  # no records made
    done = [await system.enqueue("fine", [n]) for n in range(3)]
    failed = await system.enqueue("broken", ["50% off"])
    await drain(system)
    handler.flush()

    documents = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted(d["job_id"] for d in documents) == sorted([j.id for j in done] + [failed.id])
    for document in documents:
        assert document.keys() >= FIELDS
        assert (document["level"], document["logger"], document["attempt"]) == ("info", OUTCOMES, 1)
        assert document["queue"] == "default" and document["duration"] >= 0
    failure = next(d for d in documents if d["job_id"] == failed.id)
    assert (failure["outcome"], failure["task"]) == ("failed", "broken")
    assert (failure["error_type"], failure["error"]) == ("ValueError", "50% off")
    assert failure["message"].startswith(f"job failed: task=broken id={failed.id} queue=default")
    assert failure["message"].endswith("error=ValueError: 50% off")


async def test_text_lines_read_as_the_records_would(
    system: JobSystem, outcome_logger: logging.Logger
) -> None:
    stream = Written()
    alone(outcome_logger, line_handler(stream, LineFormatter()))
    job = await system.enqueue("fine", [1])
    await drain(system)
    outcome_logger.handlers[0].flush()

    (line,) = stream.getvalue().splitlines()
    stamp, (level, name, message) = line[:23], line[24:].split(" ", 2)
    time.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")
    assert (level, name) == ("INFO", f"{OUTCOMES}:")
    assert message.startswith(f"job completed: task=fine id={job.id} queue=default attempt=1 ")


async def test_other_handlers_get_one_record_per_outcome(
    system: JobSystem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=OUTCOMES)
    jobs = [await system.enqueue("fine", [n]) for n in range(3)]
    await drain(system)

    records = [r for r in caplog.records if r.name == OUTCOMES]
    assert sorted(r.job_outcome["job_id"] for r in records) == sorted(j.id for j in jobs)  # type: ignore[attr-defined]
    assert all(r.levelno == logging.INFO and "job completed" in r.getMessage() for r in records)


async def test_tracebacks_at_debug(system: JobSystem, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=OUTCOMES)
    job = await system.enqueue("broken", ["deep"])
    await drain(system)

    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(m.startswith(f"job {job.id} traceback:") and "ValueError" in m for m in debug)


# -- the handler ------------------------------------------------------------------
def test_lines_wait_for_the_interval_then_are_written_together() -> None:
    stream = Written()
    handler = line_handler(stream, LineFormatter(), interval=0.05)
    logger = logging.getLogger("uno.tests.batched")
    first = time.monotonic()
    handler.handle(logger.makeRecord(logger.name, logging.INFO, "f", 1, "one", None, None))
    handler.handle(logger.makeRecord(logger.name, logging.INFO, "f", 1, "two", None, None))
    assert stream.getvalue() == ""
    assert stream.wrote.wait(5)
    assert time.monotonic() - first >= 0.05
    assert [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()] == ["one", "two"]
    handler.close()


def test_a_warning_writes_itself_and_the_lines_before_it_at_once() -> None:
    stream = Written()
    handler = line_handler(stream, LineFormatter(), interval=3600)
    logger = logging.getLogger("uno.tests.urgent")
    handler.handle(logger.makeRecord(logger.name, logging.INFO, "f", 1, "before", None, None))
    handler.handle(logger.makeRecord(logger.name, logging.WARNING, "f", 1, "now", None, None))
    assert [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()] == ["before", "now"]
    handler.close()


def test_many_lines_are_written_without_waiting() -> None:
    stream = Written()
    handler = line_handler(stream, LineFormatter(), interval=3600)
    handler.max_lines = 3
    write_to(handler, [f"line {n}" for n in range(3)])
    assert len(stream.getvalue().splitlines()) == 3
    handler.close()


def test_close_writes_what_waits_and_later_lines_at_once() -> None:
    stream = Written()
    handler = line_handler(stream, LineFormatter(), interval=3600)
    write_to(handler, ["waiting"])
    handler.close()
    write_to(handler, ["after"])
    assert [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()] == [
        "waiting",
        "after",
    ]


def test_a_line_reads_as_its_record_would_in_text_and_json() -> None:
    record = logging.LogRecord(OUTCOMES, logging.INFO, "f", 1, "job completed: 100%", None, None)
    record.job_outcome = {"task": "t", "attempt": 2}
    lines = Lines([record.msg], str, lambda _: {"task": "t", "attempt": 2})
    text = LineFormatter()
    assert text.format(record) == logging.Formatter(TEXT_FORMAT).format(record)
    assert text.entry_lines(record.created, logging.INFO, OUTCOMES, lines) == [text.format(record)]
    as_json = JsonFormatter()
    (line,) = as_json.entry_lines(record.created, logging.INFO, OUTCOMES, lines)
    assert json.loads(line) == json.loads(as_json.format(record))


def test_the_time_is_formatted_anew_each_second() -> None:
    formatter = LineFormatter()
    standard = logging.Formatter(TEXT_FORMAT)
    for created in (1_000_000.5, 1_000_000.999, 1_000_001.0, 1_000_061.25):
        record = logging.LogRecord("x", logging.INFO, "f", 1, "m", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert formatter.format(record) == standard.format(record)


def test_a_given_date_format_and_a_traceback_are_honoured() -> None:
    try:
        raise ValueError("deep")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, "f", 1, "m", None, sys.exc_info())
    assert LineFormatter().formatTime(record, "%Y") == time.strftime("%Y")
    document = json.loads(JsonFormatter().format(record))
    assert document["level"] == "error" and "ValueError: deep" in document["traceback"]


def test_a_forked_child_starts_with_no_lines_of_its_parent() -> None:
    stream = Written()
    handler = line_handler(stream, LineFormatter(), interval=3600)
    write_to(handler, ["the parent's"])
    handler._after_fork()
    handler.flush()
    assert stream.getvalue() == ""
    write_to(handler, ["the child's"])
    handler.close()
    assert stream.getvalue().endswith("the child's\n")


def test_lines_go_straight_to_the_handler_only_when_nothing_else_would_see_them(
    outcome_logger: logging.Logger,
) -> None:
    handler = line_handler(Written(), LineFormatter())
    alone(outcome_logger, handler)
    assert direct_handler(outcome_logger, logging.INFO) is handler

    outcome_logger.addFilter(lambda record: True)
    assert direct_handler(outcome_logger, logging.INFO) is None
    outcome_logger.filters.clear()

    handler.setFormatter(logging.Formatter("%(message)s"))
    assert direct_handler(outcome_logger, logging.INFO) is None
    handler.setFormatter(LineFormatter())

    quiet = logging.StreamHandler(io.StringIO())
    quiet.setLevel(logging.ERROR)
    outcome_logger.addHandler(quiet)
    assert direct_handler(outcome_logger, logging.INFO) is handler
    quiet.setLevel(logging.INFO)
    assert direct_handler(outcome_logger, logging.INFO) is None


def test_log_lines_respects_the_logger_level(outcome_logger: logging.Logger) -> None:
    stream = Written()
    handler = line_handler(stream, LineFormatter())
    alone(outcome_logger, handler)
    outcome_logger.setLevel(logging.WARNING)
    log_lines(outcome_logger, logging.INFO, Lines(["hidden"], str, lambda _: {}))
    handler.flush()
    assert stream.getvalue() == ""


def write_to(handler: LineHandler, messages: list[str]) -> None:
    handler.write_lines(logging.INFO, "uno.tests.lines", Lines(messages, str, lambda _: {}))


# -- the command ----------------------------------------------------------------
STOPPED_BY_SIGTERM = textwrap.dedent(
    """
    import asyncio, sys
    from uno.jobs import JobSystem
    from uno.jobs.cli.options import configure_logging
    from uno.jobs.cli.worker import run_worker
    from uno.jobs.logs import LineHandler

    LineHandler.interval = 3600  # only a clean exit can write the lines
    configure_logging("info")
    jobs = JobSystem(sys.argv[1])

    @jobs.task(max_retries=0)
    async def fine() -> None:
        print("ran", flush=True)

    async def main() -> None:
        await jobs.open()
        await jobs.enqueue("fine")
        await run_worker(jobs)

    asyncio.run(main())
    """
)


def test_a_worker_stopped_by_sigterm_writes_its_waiting_lines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    process = subprocess.Popen(
        [sys.executable, "-c", STOPPED_BY_SIGTERM, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "ran\n"
        process.terminate()
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    completed = [line for line in errors.splitlines() if "job completed: task=fine" in line]
    assert len(completed) == 1, errors
    assert "stopped (1 jobs run)" in errors
