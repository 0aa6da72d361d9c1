"""Prune a million finished jobs while enqueueing, on either store.

    python benchmarks/prune_scale.py sqlite:////tmp/prune.db --jobs 1000000
    python benchmarks/prune_scale.py postgresql://postgres@127.0.0.1/test --jobs 1000000

Fills a fresh database (a new file, or a new schema ``--schema``) with ``--jobs``
finished jobs that ended a month ago, fast: one ``executemany`` on SQLite, one
``INSERT ... SELECT FROM generate_series`` on PostgreSQL. Then it times one job
enqueued at a time, alone, and again while the scheduler's maintenance prunes
them all (``--batch`` rows a round; ``--unbounded`` runs the single DELETE of
``Store.prune_jobs`` instead, for comparison). It prints the median, p99 and
worst enqueue latency of each phase, and the pruning's total time and rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from uno.jobs.jobs import Job
from uno.jobs.scheduler.maintenance import DEFAULT_BATCH, Maintenance
from uno.jobs.settings import Settings
from uno.jobs.store import create_store
from uno.jobs.store.base import Store
from uno.jobs.system import JobSystem

#: When the filled jobs were created; they ended a second later.
ENDED = datetime.now(UTC) - timedelta(days=30)
RETENTION = 7 * 24 * 3600.0


def fill_sqlite(path: str, jobs: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        base = ENDED.timestamp()
        conn.executemany(
            "INSERT INTO jobs (id, task_name, queue_name, status, scheduled_at, created_at,"
            " started_at, completed_at, result) VALUES (?, 'bench.task', 'default', 'completed',"
            " ?, ?, ?, ?, 'null')",
            (
                (f"prune-{n}", base + n * 0.001, base + n * 0.001, base + n * 0.001 + 0.5,
                 base + n * 0.001 + 1)
                for n in range(jobs)
            ),
        )  # fmt: skip
        conn.execute("COMMIT")
    finally:
        conn.close()


async def fill_postgres(store: Store, jobs: int) -> None:
    async def work(conn: object) -> None:
        await conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO jobs (id, task_name, queue_name, status, scheduled_at, created_at,"
            " started_at, completed_at, result)"
            " SELECT 'prune-' || n, 'bench.task', 'default', 'completed', t, t,"
            " t + interval '0.5 s', t + interval '1 s', 'null'::jsonb"
            " FROM generate_series(1, %(jobs)s) AS n,"
            " LATERAL (SELECT %(ended)s::timestamptz + n * interval '1 ms' AS t) AS at",
            {"jobs": jobs, "ended": ENDED},
        )

    await store._with_conn(work, idempotent=False)  # type: ignore[attr-defined]


def remove_database(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


def drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def timed(call: Awaitable[object]) -> float:
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def enqueue_one(store: Store) -> float:
    now = datetime.now(UTC)
    return await timed(store.insert_jobs([Job("bench.task", created_at=now, scheduled_at=now)]))


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (
        f"median {at(0.5):.1f} ms, p99 {at(0.99):.1f} ms, worst {ordered[-1] * 1000:.1f} ms"
        f" ({len(ordered)} enqueues)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--schema", default="uno_jobs_prune_scale", help="PostgreSQL schema")
    parser.add_argument("--unbounded", action="store_true", help="one DELETE, as before")
    args = parser.parse_args()

    sqlite = args.url.startswith("sqlite:")
    path = args.url.removeprefix("sqlite:///")
    if sqlite:
        await asyncio.to_thread(remove_database, path)
    else:
        drop_schema(args.url, args.schema)
    store = create_store(args.url, **({} if sqlite else {"schema": args.schema}))
    await store.open()
    try:
        started = time.perf_counter()
        if sqlite:
            await asyncio.to_thread(fill_sqlite, path, args.jobs)
        else:
            await fill_postgres(store, args.jobs)
        print(f"filled {args.jobs:,} finished jobs in {time.perf_counter() - started:.1f} s")

        alone = [await enqueue_one(store) for _ in range(200)]
        print(f"enqueue alone: {summary(alone)}")

        system = JobSystem(store=store, settings=Settings(retention=RETENTION))
        maintenance = Maintenance(system, batch=args.batch)
        started = time.perf_counter()
        if args.unbounded:
            before = datetime.now(UTC) - timedelta(seconds=RETENTION)
            pruning = asyncio.create_task(store.prune_jobs(before))
        else:
            pruning = asyncio.create_task(maintenance.run(datetime.now(UTC)))
        beside: list[float] = []
        while not pruning.done():
            beside.append(await enqueue_one(store))
        outcome = await pruning
        took = time.perf_counter() - started
        how = "one DELETE" if args.unbounded else f"rounds of {args.batch:,}"
        print(f"pruning ({how}): {outcome} in {took:.1f} s")
        print(f"enqueue while pruning: {summary(beside)}")
    finally:
        await store.close()
        if sqlite:
            await asyncio.to_thread(remove_database, path)
        else:
            drop_schema(args.url, args.schema)


if __name__ == "__main__":
    asyncio.run(main())
