"""The first page of the default job list is read from an index on both stores.

The jobs browser and ``GET /api/v1/jobs`` ask for the newest jobs first. A plan
that sorts the whole table to return ten rows costs time in proportion to the
table (at a million jobs, most of a second), so the ORDER BY that ``list_order``
writes must be one the ``created_at`` index answers in both directions.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

import pytest

from helpers import EPOCH
from uno.jobs.jobs import Job
from uno.jobs.store.base import Store
from uno.jobs.store.columns import list_order


def _plan(store: Store, order: str) -> str:
    statement = f"SELECT * FROM jobs ORDER BY {order} LIMIT 10"
    store_any: Any = store
    if hasattr(store_any, "schema"):
        import psycopg

        with psycopg.connect(store_any.url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{store_any.schema}"')
            conn.execute("ANALYZE jobs")
            row = conn.execute(f"EXPLAIN (FORMAT JSON) {statement}").fetchone()
            assert row is not None
            return json.dumps(row[0])
    with sqlite3.connect(store_any.path) as conn:
        conn.execute("ANALYZE")
        rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
        return json.dumps([row[-1] for row in rows])


@pytest.mark.parametrize("direction", ["desc", "asc"])
async def test_the_newest_page_is_read_from_the_created_index(store: Store, direction: str) -> None:
    times = [EPOCH + timedelta(seconds=n) for n in range(2000)]
    await store.insert_jobs(
        [Job(task_name="plan.task", created_at=t, scheduled_at=t) for t in times]
    )
    plan = _plan(store, list_order("created_at", direction))
    assert '"Sort"' not in plan and "TEMP B-TREE" not in plan, plan
    assert "jobs_created" in plan, plan


def test_only_nullable_fields_sort_missing_times_last() -> None:
    assert list_order("created_at", "desc") == "created_at desc, seq desc"
    assert list_order("started_at", "asc") == "started_at asc NULLS LAST, seq asc"
