"""The jobs table is described once (``store/columns.py``): each store's schema
has exactly its columns with their declared types, every insert path and every
read writes and reads every field through it, and rows are read by name."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers import EPOCH, make_job
from uno.jobs.jobs import Job, JobError, Priority, Status
from uno.jobs.store.base import JobFilter, Store
from uno.jobs.store.columns import BUNDLE, INSERTED, JOB_COLUMNS, READ, compile_reader, names
from uno.jobs.store.sqlfile import load_queries, render_queries

# -- slots -------------------------------------------------------------------


def test_render_queries_fills_double_brace_slots_and_keeps_single_braces() -> None:
    text = "SELECT {{cols}} FROM {schema}.jobs WHERE tags <> '{}' -- {{ cols }}"
    assert render_queries(text, {"cols": "a, b"}) == (
        "SELECT a, b FROM {schema}.jobs WHERE tags <> '{}' -- a, b"
    )


def test_render_queries_refuses_an_unknown_or_an_unused_slot() -> None:
    with pytest.raises(ValueError, match=r"Unknown slot.*statuses"):
        render_queries("SELECT {{cols}} WHERE status IN ({{statuses}})", {"cols": "a"})
    with pytest.raises(ValueError, match=r"never used.*extra"):
        render_queries("SELECT {{cols}}", {"cols": "a", "extra": "b"})


@pytest.mark.parametrize("package", ["uno.jobs.store.sqlite", "uno.jobs.store.postgres"])
def test_no_store_lists_the_job_columns_by_hand(package: str) -> None:
    """Every list of the job columns in the store's SQL is a generated slot: the
    loaded queries name them in the spec's order, and the file never does."""
    raw = load_queries(package, "queries.sql")
    inserted = names(INSERTED)
    read_columns = names([c for c in READ if not c.in_bundle])
    for name, sql in raw.items():
        assert inserted not in sql, name
        assert "jobs (\n    id, task_name" not in sql, name
        assert "SELECT * FROM jobs" not in sql, name
        if "RETURNING *" in sql:  # allowed on other tables (schedules keep their own list)
            assert not any(f"{verb} jobs" in sql for verb in ("UPDATE", "INTO", "FROM")), name
    if package.endswith("sqlite"):
        from uno.jobs.store.sqlite.store import Q
    else:
        from uno.jobs.store.postgres.store import _QUERIES as Q
    assert f"jobs ({inserted})" in Q["insert_job"]
    for name in ("get_job", "get_jobs", "list_jobs", "fetch_jobs", "cancel_job", "retry_job"):
        flat = " ".join(Q[name].split()).replace("j.", "")
        assert read_columns in flat and f"AS {BUNDLE}" in flat, name


# -- schemas -----------------------------------------------------------------


async def _schema_columns(store: Store) -> dict[str, tuple[str, bool]]:
    """The jobs table as the store's database has it: name -> (type, nullable)."""
    from uno.jobs.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            info = conn.execute("PRAGMA table_info(jobs)").fetchall()
        # A rowid alias (INTEGER PRIMARY KEY) is never NULL, whatever notnull says.
        return {name: (kind, not (notnull or pk)) for _, name, kind, notnull, _, pk in info}
    import psycopg

    from uno.jobs.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    query = """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
        FROM pg_attribute AS a
        WHERE a.attrelid = (quote_ident(%s) || '.jobs')::regclass
          AND a.attnum > 0 AND NOT a.attisdropped
    """
    async with await psycopg.AsyncConnection.connect(store.url) as conn:
        found = await (await conn.execute(query, (store.schema,))).fetchall()
    return {name: (kind, nullable) for name, kind, nullable in found}


async def test_the_schema_has_exactly_the_spec_columns_with_their_types(store: Store) -> None:
    from uno.jobs.store.sqlite import SQLiteStore

    sqlite = isinstance(store, SQLiteStore)
    expected = {
        c.name: (c.sqlite_type if sqlite else c.postgres_type, c.nullable) for c in JOB_COLUMNS
    }
    assert await _schema_columns(store) == expected


# -- every field, every path -------------------------------------------------


def _every_field_set(i: int) -> Job:
    """A job whose every field holds a value other than its default."""
    created = datetime(2026, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)
    return make_job(
        task_name="reports.build",
        args=[i, "two", {"three": 3}],
        kwargs={"name": "zoë", "items": [1, 2]},
        queue_name="reports",
        priority=Priority.HIGH,
        status=Status.PENDING,
        created_at=created,
        scheduled_at=created + timedelta(minutes=5),
        started_at=created + timedelta(minutes=6),
        completed_at=created + timedelta(minutes=7),
        result={"kept": [1, None]},
        error=JobError("Boom", "it broke", "Traceback ..."),
        retry_count=2,
        max_retries=3,
        retry_delay=2.5,
        tags=["a", "b"],
        metadata={"source": "api"},
        worker_id="w-old",
        timeout=30.0,
        version="1.2",
    )


@pytest.mark.parametrize("count", [1, 3, 70], ids=["values", "unnest", "copy"])
async def test_every_insert_path_and_read_keeps_every_field(store: Store, count: int) -> None:
    jobs = [_every_field_set(i) for i in range(count)]
    await store.insert_jobs(jobs)
    assert await store.get_job(jobs[0].id) == jobs[0]
    got = await store.get_jobs([j.id for j in jobs])
    assert sorted(got, key=lambda j: j.args[0]) == jobs
    page, total = await store.list_jobs(JobFilter(limit=count, order_by="created_at"))
    assert total == count and sorted(page, key=lambda j: j.args[0]) == jobs


async def test_a_claim_and_a_cancel_return_every_field(store: Store) -> None:
    job = _every_field_set(0).evolve(started_at=None, completed_at=None, worker_id=None)
    await store.insert_jobs([job])
    (claimed,) = await store.fetch_jobs("w", None, 1, EPOCH + timedelta(days=1))
    assert claimed == job.evolve(status=Status.RESERVED, worker_id="w")
    assert claimed == await store.get_job(job.id)
    cancelled = await store.cancel_job(job.id, None, EPOCH + timedelta(days=2))
    assert cancelled == await store.get_job(job.id)
    assert cancelled.args == job.args and cancelled.error == job.error


# -- reading by name -----------------------------------------------------------


def _row(job: Job, columns: list[str]) -> tuple[Any, ...]:
    """``job`` as a row with these result columns (the JSON ones in the bundle)."""
    import json

    bundled = [c for c in READ if c.in_bundle]
    values: dict[str, Any] = {c.name: getattr(job, c.attribute) for c in INSERTED}
    values["seq"] = 41
    values["priority"] = job.priority.rank
    values["status"] = job.status.value
    values["error"] = None if job.error is None else job.error.to_dict()
    values[BUNDLE] = json.dumps([values[c.name] for c in bundled])
    return tuple(values[name] for name in columns)


def test_rows_are_read_by_column_name_whatever_their_order() -> None:
    from uno.jobs.store.postgres.rows import _DECODE

    job = _every_field_set(7)
    plain = [c.name for c in READ if not c.in_bundle] + [BUNDLE]
    for columns in (plain, list(reversed(plain))):
        reader = compile_reader(columns, _DECODE)
        assert reader.job(_row(job, columns)) == job
        assert reader.key("seq", "priority")(_row(job, columns)) == (41, job.priority.rank)


def test_a_row_without_a_field_of_the_job_is_refused() -> None:
    from uno.jobs.store.postgres.rows import _DECODE

    columns = [c.name for c in READ if not c.in_bundle and c.name != "timeout"] + [BUNDLE]
    with pytest.raises(ValueError, match="'timeout'"):
        compile_reader(columns, _DECODE)
