"""What only the SQLite store promises: its migrations, its file URL, and safe
claiming by several processes sharing one file."""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import sqlite3
import threading
import time
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from helpers import eventually, make_job
from uno.jobs.settings import sqlite_target
from uno.jobs.store.sqlfile import parse_queries
from uno.jobs.store.sqlite import SQLiteStore
from uno.jobs.store.sqlite.migrations import available_migrations, split_statements
from uno.jobs.store.sqlite.store import Q

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def schema_of(conn: sqlite3.Connection) -> set[tuple[str, str, str, str]]:
    """Every object of the schema, its SQL with whitespace normalised (none around
    commas and brackets: ALTER TABLE ADD COLUMN writes ``\n, column)``)."""
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    )
    return {(t, n, tbl, _normalised(sql or "")) for t, n, tbl, sql in rows}


def _normalised(sql: str) -> str:
    return re.sub(r"\s*([,()])\s*", r"\1", re.sub(r"\s+", " ", sql)).strip()


async def test_migrations_yield_the_schema_snapshot(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'migrated.db'}")
    await store.open()
    assert await store.migrate() == []
    await store.close()

    migrated = sqlite3.connect(tmp_path / "migrated.db")
    applied = [row[0] for row in migrated.execute("SELECT name FROM schema_migrations")]
    assert applied == [name for name, _ in available_migrations()]
    assert applied[0] == "0001_initial"

    snapshot = sqlite3.connect(":memory:")
    text = files("uno.jobs.store.sqlite").joinpath("schema.sql").read_text(encoding="utf-8")
    snapshot.executescript(text)
    assert schema_of(migrated) == schema_of(snapshot)
    migrated.close()
    snapshot.close()


def test_stores_migrating_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        async def run() -> None:
            store = SQLiteStore(url)
            barrier.wait()
            await store.open()
            await store.close()

        try:
            asyncio.run(run())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    conn = sqlite3.connect(tmp_path / "race.db")
    rows = conn.execute("SELECT name FROM schema_migrations").fetchall()
    conn.close()
    assert rows == [(name,) for name, _ in available_migrations()]


def test_split_statements_keeps_triggers_whole() -> None:
    script = """
    -- a comment
    CREATE TABLE a (x);
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        UPDATE a SET x = 1; DELETE FROM a WHERE x = 2;
    END;
    -- trailing comment
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError):
        split_statements("CREATE TABLE b (x)")


def test_named_queries_parse() -> None:
    queries = parse_queries("-- header\n-- name: one\nSELECT 1;\n\n-- name: two\nSELECT 2\n")
    assert queries == {"one": "SELECT 1", "two": "SELECT 2"}
    with pytest.raises(ValueError):
        parse_queries("-- name: one\nSELECT 1\n-- name: one\nSELECT 2\n")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///jobs.db", "jobs.db"),
        ("sqlite:///data/jobs.db", "data/jobs.db"),
        ("sqlite:////var/lib/jobs.db", "/var/lib/jobs.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_url_forms(url: str, path: str) -> None:
    assert sqlite_target(url) == path


@pytest.mark.parametrize("url", ["sqlite://jobs.db", "sqlite:///", "postgresql://x/y"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        SQLiteStore(url)


async def test_store_opens_in_wal_mode_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    """A mistyped folder fails with the folder it names instead of being created."""
    missing = SQLiteStore(f"sqlite:///{tmp_path / 'deep' / 'er' / 'jobs.db'}")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'deep' / 'er'} does not exist"):
        await missing.open()
    assert not (tmp_path / "deep").exists()

    store = SQLiteStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    await store.open()
    assert await store.ping()
    await store.close()
    assert not await store.ping()
    conn = sqlite3.connect(tmp_path / "jobs.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_fetch_walks_the_waiting_index(tmp_path: Path) -> None:
    """The claim must never scan the whole table, whatever its size."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        files("uno.jobs.store.sqlite").joinpath("schema.sql").read_text(encoding="utf-8")
    )
    params = {
        "worker_id": "w",
        "now": 1.0,
        "queues": None,
        "tasks": None,
        "limit": 10,
        "running": 0,
    }
    plan = " | ".join(
        row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + Q["fetch_jobs"], params)
    )
    assert "USING INDEX jobs_waiting" in plan
    conn.close()


def claim_all(url: str, worker: str, ready: Any, results: Any) -> None:
    """Drain the queue from a separate process, all processes starting together."""

    async def run() -> list[str]:
        store = SQLiteStore(url)
        await store.open()
        claimed: list[str] = []
        try:
            ready.wait(30)
            while batch := await store.fetch_jobs(worker, None, 5, NOW):
                claimed += [job.id for job in batch]
                await store.start_jobs([job.id for job in batch], worker, NOW)
        finally:
            await store.close()
        return claimed

    results.put((worker, asyncio.run(run())))


def test_processes_sharing_a_file_never_claim_a_job_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    jobs = [make_job(args=[i]) for i in range(1000)]

    async def seed() -> None:
        store = SQLiteStore(url)
        await store.open()
        await store.insert_jobs(jobs)
        await store.close()

    asyncio.run(seed())
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(3)
    results = context.Queue()
    processes = [
        context.Process(target=claim_all, args=(url, f"p{i}", ready, results)) for i in range(3)
    ]
    for process in processes:
        process.start()
    claims = dict(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(30)
        assert process.exitcode == 0

    claimed = [job_id for batch in claims.values() for job_id in batch]
    assert len(claimed) == len(set(claimed)) == len(jobs)
    assert sum(1 for batch in claims.values() if batch) >= 2, "the processes did not overlap"
    conn = sqlite3.connect(tmp_path / "shared.db")
    holders = dict(conn.execute("SELECT id, worker_id FROM jobs").fetchall())
    conn.close()
    assert all(holders[job_id] == worker for worker, ids in claims.items() for job_id in ids)


def enqueue_one_from_another_process(url: str) -> None:
    """Insert one job from a fresh process, as a web app next to a worker would."""

    async def run() -> None:
        store = SQLiteStore(url)
        await store.open()
        try:
            await store.insert_jobs([make_job()])
        finally:
            await store.close()

    asyncio.run(run())


async def test_another_process_wakes_a_waiter_without_polling(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wake.db'}"
    waiter_store = SQLiteStore(url)
    waiter_store.fallback_poll_interval = 60.0  # only the wake-up channel can be in time
    await waiter_store.open()
    try:
        await waiter_store.fetch_jobs("w", None, 1, NOW)
        waiter = asyncio.create_task(waiter_store.wait_for_jobs(30))

        async def listening() -> bool:
            return any((tmp_path / "wake.db-wake").glob("uno-jobs-*"))

        await eventually(listening, timeout=5)
        context = multiprocessing.get_context("spawn")
        producer = context.Process(target=enqueue_one_from_another_process, args=(url,))
        producer.start()
        await asyncio.to_thread(producer.join, 30)
        assert producer.exitcode == 0
        started = time.monotonic()
        await asyncio.wait_for(waiter, 10)
        assert time.monotonic() - started < 5
    finally:
        await waiter_store.close()
    assert not any((tmp_path / "wake.db-wake").glob("uno-jobs-*"))  # closing removes it


async def test_a_dead_waiters_marker_is_removed_by_the_next_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stale.db'}"
    folder = tmp_path / "stale.db-wake"
    folder.mkdir()
    (folder / "uno-jobs-0-deadbeef").touch()  # as left by a process killed with SIGKILL
    store = SQLiteStore(url)
    await store.open()
    try:
        await store.insert_jobs([make_job()])
    finally:
        await store.close()
    assert list(folder.iterdir()) == []


async def test_commits_leave_checkpoints_to_the_background_thread(tmp_path: Path) -> None:
    """Commits leave checkpoints to the thread: the store's connection checkpoints
    by itself only past the WAL size limit, and its thread copies the log into
    the database file instead."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'ckpt.db'}")
    await store.open()
    checkpointer = store._checkpointer
    assert checkpointer is not None

    def pragma(statement: str) -> tuple[Any, ...]:
        assert store._conn is not None
        row: tuple[Any, ...] = store._conn.execute(statement).fetchone()
        return row

    try:
        page_size = (await store._run(pragma, "PRAGMA page_size"))[0]
        pages = checkpointer.wal_size_limit // page_size
        assert await store._run(pragma, "PRAGMA wal_autocheckpoint") == (pages,)
        for _ in range(20):
            await store.insert_jobs([make_job() for _ in range(50)])

        async def checkpointed() -> bool:
            return checkpointer.checkpoints > 0

        await eventually(checkpointed, timeout=10)
    finally:
        await store.close()
    assert checkpointer._thread is None
