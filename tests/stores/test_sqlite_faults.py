"""The SQLite store under faults: a full disk or size limit, failing checkpoints,
a WAL grown by a burst, and slow reads beside writes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from helpers import eventually, make_job
from uno.jobs.errors import StorageFull, StoreUnavailable
from uno.jobs.queries import JobFilter, JobStats
from uno.jobs.store.sqlite import SQLiteStore
from uno.jobs.store.sqlite.checkpoint import Checkpointer, FailureLog
from uno.jobs.store.sqlite.faults import translate

BIG_ARGS = ["x" * 2000]


async def fill_until_full(store: SQLiteStore, limit: int = 10_000) -> tuple[list[str], StorageFull]:
    """Insert jobs until the store refuses one; the ids stored and the refusal."""
    stored: list[str] = []
    for _ in range(limit):
        job = make_job(args=BIG_ARGS)
        try:
            await store.insert_jobs([job])
        except StorageFull as full:
            return stored, full
        stored.append(job.id)
    raise AssertionError(f"{limit} jobs fitted: the size limit was not reached")


async def test_a_full_size_limit_refuses_writes_clearly_and_work_resumes_once_room_is_made(
    tmp_path: Path,
) -> None:
    path = tmp_path / "small.db"
    store = SQLiteStore(f"sqlite:///{path}", max_size=256 * 1024)
    await store.open()
    try:
        stored, full = await fill_until_full(store)
        assert stored, "not one job fitted"
        assert str(path) in str(full) and "full" in str(full)
        assert isinstance(full, StoreUnavailable)
        # Nothing half-written, reads still served, and the store is not wedged.
        assert (await store.list_jobs(JobFilter(limit=1)))[1] == len(stored)
        with pytest.raises(StorageFull):
            await store.insert_jobs([make_job(args=BIG_ARGS)])
        assert await store.clear_queue("default") == len(stored)
        await store.insert_jobs([make_job(args=BIG_ARGS)])
        assert await count_jobs(store) == 1
    finally:
        await store.close()


# A child process in its own mount namespace puts the database on a 2 MiB tmpfs
# with a filler file beside it; fills the disk; frees the filler; reports.
TMPFS_CHILD = r"""
import asyncio, json, logging, os, sys, time
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from helpers import make_job
from uno.jobs.store.sqlite import SQLiteStore
from uno.jobs.store.sqlite.checkpoint import Checkpointer

folder = sys.argv[1]
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("uno.jobs.store.sqlite.checkpoint").addHandler(Keep())

async def main():
    filler = os.path.join(folder, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * 384 * 1024)
    store = SQLiteStore("sqlite:///" + os.path.join(folder, "jobs.db"))
    store._checkpointer.interval = 0.05
    await store.open()
    report = {"stored": 0}
    try:
        for _ in range(5000):
            try:
                await store.insert_jobs([make_job(args=["x" * 2000])])
                report["stored"] += 1
            except Exception as exc:
                report["error"] = type(exc).__name__
                report["detail"] = str(exc)
                report["wal_at_full"] = os.path.getsize(os.path.join(folder, "jobs.db-wal"))
                break
        os.remove(filler)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                await store.insert_jobs([make_job(args=["x" * 2000])])
                report["resumed"] = True
                break
            except Exception as exc:
                report["after_free"] = type(exc).__name__
                await asyncio.sleep(0.05)
        report["total"] = sum(g.jobs for g in await store.job_groups())
        wal = os.path.join(folder, "jobs.db-wal")
        deadline = time.monotonic() + 10
        while os.path.getsize(wal) > report["wal_at_full"] / 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        report["wal_after"] = os.path.getsize(os.path.join(folder, "jobs.db-wal"))
    finally:
        await store.close()
    report["logs"] = records
    print(json.dumps(report))

asyncio.run(main())
"""


def test_on_a_full_disk_writes_fail_clearly_and_resume_when_space_is_freed(
    tmp_path: Path,
) -> None:
    """On a real full filesystem (a 2 MiB tmpfs): StorageFull naming the file,
    logged checkpoint failures, writes back as soon as a little room is freed, and
    the WAL cut back afterwards."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and unshare (CI runs as root)")
    folder = tmp_path / "disk"
    folder.mkdir()
    script = tmp_path / "child.py"
    script.write_text(TMPFS_CHILD)
    tests = Path(__file__).resolve().parents[1]
    src = tests.parent / "src"
    probe = subprocess.run(
        [unshare, "-m", "sh", "-c", f"mount -t tmpfs -o size=2m tmpfs {folder}"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.strip()}")
    command = (
        f"mount -t tmpfs -o size=2m tmpfs {folder} && "
        f"{sys.executable} {script} {folder} {tests} {src}"
    )
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", command], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["stored"] > 0
    assert report.get("error") == "StorageFull", report
    assert "jobs.db" in report["detail"] and "full" in report["detail"]
    assert report.get("resumed") is True, report
    assert report["total"] == report["stored"] + 1
    assert report["wal_after"] < report["wal_at_full"] / 4, report


class FailingConnection:
    """Stands in for the checkpointer's connection on a full disk."""

    def __init__(self) -> None:
        self.fail = True

    def execute(self, sql: str) -> Any:
        if self.fail:
            raise sqlite3.OperationalError("database or disk is full")
        return FakeCursor()


class FakeCursor:
    def fetchone(self) -> tuple[int, int, int]:
        return (0, 0, 0)


def test_checkpoint_failures_are_logged_at_most_once_an_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    checkpointer = Checkpointer("/nowhere/jobs.db")
    checkpointer.failures = FailureLog(interval=60, clock=lambda: now[0])
    conn: Any = FailingConnection()
    caplog.set_level(logging.WARNING, logger="uno.jobs.store.sqlite.checkpoint")
    for _ in range(5):
        checkpointer.checkpoint(conn)
        now[0] += 1
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "/nowhere/jobs.db" in lines[0] and "full" in lines[0]

    now[0] = 61.0
    checkpointer.checkpoint(conn)
    assert len(caplog.records) == 2
    assert "4 more" in caplog.records[1].getMessage()

    conn.fail = False
    checkpointer.checkpoint(conn)
    assert len(caplog.records) == 3
    assert "works again" in caplog.records[2].getMessage()
    checkpointer.checkpoint(conn)
    assert len(caplog.records) == 3


async def test_a_burst_grown_wal_is_cut_back_once_checkpointed(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'burst.db'}")
    checkpointer = store._checkpointer
    assert checkpointer is not None
    checkpointer.wal_size_limit = 64 * 1024
    # No tick during the burst: on a busy machine a tick between two inserts could cut
    # the WAL back before it is measured. Ticks start once it has been.
    checkpointer.interval = 3600
    await store.open()
    wal = tmp_path / "burst.db-wal"
    try:
        for _ in range(10):
            await store.insert_jobs([make_job(args=BIG_ARGS) for _ in range(50)])
        grown = wal.stat().st_size
        assert grown > checkpointer.wal_size_limit
        checkpointer.interval = 0.02
        checkpointer._nudge.set()  # ends the long wait without asking for a truncation

        async def cut_back() -> bool:
            return wal.stat().st_size <= checkpointer.wal_size_limit

        await eventually(cut_back, timeout=10)
        assert await count_jobs(store) == 500
    finally:
        await store.close()


def test_sqlite_faults_map_to_domain_errors() -> None:
    def error(code: int, message: str) -> sqlite3.OperationalError:
        exc = sqlite3.OperationalError(message)
        exc.sqlite_errorcode = code  # type: ignore[attr-defined]
        return exc

    full = translate(error(sqlite3.SQLITE_FULL, "database or disk is full"), "/d/jobs.db")
    assert isinstance(full, StorageFull) and "/d/jobs.db" in str(full)
    io = translate(error(sqlite3.SQLITE_IOERR | (3 << 8), "disk I/O error"), "/d/jobs.db")
    assert type(io) is StoreUnavailable and "disk I/O error" in str(io)
    assert type(translate(error(sqlite3.SQLITE_READONLY, "readonly"), "x")) is StoreUnavailable
    assert translate(error(sqlite3.SQLITE_ERROR, "no such column: nope"), "x") is None


async def test_a_slow_read_neither_delays_writes_nor_other_reads(tmp_path: Path) -> None:
    """A stats computation held up in its reading thread: an enqueue and a
    lookup complete (and see each other) while it is still blocked."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'readers.db'}")
    await store.open()
    entered, release = threading.Event(), threading.Event()
    counting = store._job_groups

    def slow_stats(*args: Any) -> Any:
        entered.set()
        release.wait(10)
        return counting(*args)

    store._job_groups = slow_stats  # type: ignore[method-assign]
    try:
        stats = asyncio.ensure_future(count_jobs(store))
        assert await asyncio.to_thread(entered.wait, 10)
        job = make_job()
        enqueue = asyncio.ensure_future(store.insert_jobs([job]))
        done, _ = await asyncio.wait({stats, enqueue}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {enqueue}, "the enqueue waited for the slow read"
        fetched = await store.get_job(job.id)  # read-your-writes, on another reader
        assert fetched is not None and fetched.id == job.id
        assert not stats.done()
        release.set()
        assert await stats == 1
    finally:
        release.set()
        await store.close()


async def count_jobs(store: SQLiteStore) -> int:
    return JobStats.from_groups(await store.job_groups()).total_jobs
