"""What only the PostgreSQL store promises: migrations that add up to the snapshot,
safe concurrent start-up, SKIP LOCKED claims, transactional enqueue on the
caller's connection, LISTEN/NOTIFY wake-ups, and recovery from lost connections.

Each test works in its own schema and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from helpers import POSTGRES_URL, eventually, fresh_schema
from uno.jobs.errors import DuplicateJob
from uno.jobs.jobs import Job, Status
from uno.jobs.store.base import Completion, Pruned, PruneRequest
from uno.jobs.store.postgres import PostgresStore
from uno.jobs.store.postgres.migrations import available_migrations, schema_snapshot
from uno.jobs.store.postgres.store import COPY_THRESHOLD

pytestmark = pytest.mark.postgres

URL = POSTGRES_URL
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema name, dropped (CASCADE) after the test."""
    with fresh_schema("pgtest") as name:
        yield name


StoreMaker = Callable[[], Awaitable[PostgresStore]]


@pytest.fixture
async def make_store(schema: str) -> AsyncIterator[StoreMaker]:
    """Open stores on the test's schema; all closed at the end."""
    stores: list[PostgresStore] = []

    async def make() -> PostgresStore:
        store = PostgresStore(URL, schema=schema, min_size=1, max_size=4)
        await store.open()
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


def job(**fields: Any) -> Job:
    fields.setdefault("created_at", NOW)
    fields.setdefault("scheduled_at", NOW)
    return Job("t", **fields)


# -- migrations -----------------------------------------------------------------

CATALOG = """
SELECT 'column', c.table_name || '.' || c.column_name,
       concat_ws(' ', c.data_type, c.udt_name, c.is_nullable, c.column_default, c.is_identity,
                 c.identity_generation, c.ordinal_position::text)
FROM information_schema.columns AS c WHERE c.table_schema = %(schema)s
UNION ALL
SELECT 'index', i.tablename || '.' || i.indexname, replace(i.indexdef, %(prefix)s, '')
FROM pg_indexes AS i WHERE i.schemaname = %(schema)s
UNION ALL
SELECT 'constraint', r.relname || '.' || k.conname,
       replace(pg_get_constraintdef(k.oid), %(prefix)s, '')
FROM pg_constraint AS k
JOIN pg_class AS r ON r.oid = k.conrelid
JOIN pg_namespace AS n ON n.oid = r.relnamespace
WHERE n.nspname = %(schema)s
ORDER BY 1, 2
"""


def _catalog(conn: Any, schema: str) -> list[tuple[str, str, str]]:
    prefix = conn.execute("SELECT quote_ident(%s) || '.'", (schema,)).fetchone()[0]
    return conn.execute(CATALOG, {"schema": schema, "prefix": prefix}).fetchall()


async def test_migrations_add_up_to_the_snapshot(make_store: StoreMaker, schema: str) -> None:
    store = await make_store()
    assert await store.migrate() == []  # open() applied everything already
    snapshot = f"{schema}_snap"
    ident = sql.Identifier(snapshot)
    with psycopg.connect(URL, autocommit=True) as conn:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
                conn.execute(
                    sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(snapshot))
                )
                conn.execute(schema_snapshot().encode())
            migrated = _catalog(conn, schema)
            assert migrated, "the migrated schema is empty"
            assert migrated == _catalog(conn, snapshot)
            applied = conn.execute(
                sql.SQL("SELECT name FROM {}.schema_migrations ORDER BY name").format(
                    sql.Identifier(schema)
                )
            ).fetchall()
            assert [r[0] for r in applied] == [name for name, _ in available_migrations()]
        finally:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(snapshot))
            )


async def test_concurrent_migrate_applies_each_migration_once(schema: str) -> None:
    stores = [PostgresStore(URL, schema=schema, min_size=1, max_size=2) for _ in range(6)]
    try:
        await asyncio.gather(*(s.open() for s in stores))  # open() migrates
        results = await asyncio.gather(*(s.migrate() for s in stores))
        assert results == [[]] * len(stores)
        with psycopg.connect(URL) as conn:
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.schema_migrations").format(sql.Identifier(schema))
            ).fetchone()
        assert count == (len(available_migrations()),)
    finally:
        for s in stores:
            await s.close()


async def test_racing_first_migrations_do_not_fail(schema: str) -> None:
    """Several processes starting on an empty database at the same moment."""
    from uno.jobs.store.postgres.migrations import migrate

    async def one() -> list[str]:
        async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:
            return await migrate(conn, schema)

    results = await asyncio.gather(*(one() for _ in range(5)))
    names = [name for name, _ in available_migrations()]
    assert sorted(results, key=len) == [[]] * 4 + [names]


# -- claims -----------------------------------------------------------------------


async def test_concurrent_fetches_never_claim_a_job_twice(make_store: StoreMaker) -> None:
    stores = [await make_store() for _ in range(4)]
    jobs = [job(args=[i]) for i in range(400)]
    await stores[0].insert_jobs(jobs)

    async def drain(store: PostgresStore, worker: str) -> list[str]:
        claimed: list[str] = []
        while batch := await store.fetch_jobs(worker, None, 7, NOW):
            claimed.extend(j.id for j in batch)
            assert all(j.status is Status.RESERVED and j.worker_id == worker for j in batch)
        return claimed

    workers = [drain(store, f"w{i}-{k}") for i, store in enumerate(stores) for k in range(2)]
    claims = await asyncio.gather(*workers)
    every = [job_id for claim in claims for job_id in claim]
    assert len(every) == len(set(every)) == len(jobs)
    assert sum(1 for claim in claims if claim) > 1, "only one worker got anything"


async def test_copy_batch_round_trips_every_field(make_store: StoreMaker) -> None:
    store = await make_store()
    many = [
        job(
            args=[i, "é", {"n": None}],
            kwargs={"k": [1.5, True]},
            tags=["a", "ünï", "b c"] if i % 2 else [],
            metadata={"i": i} if i % 3 else {},
            timeout=2.5 if i % 2 else None,
            version="1.0" if i % 2 else None,
        )
        for i in range(COPY_THRESHOLD * 2)
    ]
    await store.insert_jobs(many)
    stored = {j.id: j for j in await store.get_jobs([j.id for j in many])}
    for original in many:
        assert stored[original.id] == original
    with pytest.raises(DuplicateJob):
        await store.insert_jobs([job() for _ in range(COPY_THRESHOLD)] + [many[0]])
    assert len(await store.get_jobs([j.id for j in many])) == len(many)


async def test_copy_batch_keeps_awkward_characters(make_store: StoreMaker) -> None:
    store = await make_store()
    tricky = 'tab\there, new\nline, cr\r, back\\slash, "quote", {brace}, \\N, comma,'
    many = [
        job(
            id=f"id\\{i}\t{tricky}" if i % 2 else f"plain-{i}",
            args=[tricky, i, -0.5, 125000.25, ["\u2028", None]],
            kwargs={tricky: tricky},
            tags=[tricky, "NULL", ""] if i % 2 else [],
            metadata={"m": tricky},
            queue_name=f"q\t{i % 3}",
            worker_id=None,
            version=tricky if i % 5 == 0 else None,
            retry_delay=0.1 + i,
            timeout=1e-3 if i % 2 else None,
        )
        for i in range(COPY_THRESHOLD + 3)
    ]
    await store.insert_jobs(many)
    stored = {j.id: j for j in await store.get_jobs([j.id for j in many])}
    assert len(stored) == len(many)
    for original in many:
        assert stored[original.id] == original


async def test_small_inserts_reuse_one_cursor_per_connection(schema: str) -> None:
    """Single and small-batch inserts run on a cursor kept by the pooled connection;
    a refused insert (a duplicate id) leaves it usable for the next one."""
    store = PostgresStore(URL, schema=schema, min_size=1, max_size=1)
    await store.open()
    try:
        first, pair = job(), [job(), job()]
        await store.insert_jobs([first])
        with pytest.raises(DuplicateJob):
            await store.insert_jobs([first])
        await store.insert_jobs(pair)
        assert len(await store.get_jobs([first.id] + [j.id for j in pair])) == 3
        assert store._pool is not None
        async with store._pool.connection() as conn:
            cursor = conn._uno_insert_cursor  # type: ignore[attr-defined]
            assert not cursor.closed and cursor.connection is conn
    finally:
        await store.close()


# -- transactional enqueue ------------------------------------------------------------


@pytest.mark.parametrize("count", [1, COPY_THRESHOLD])
async def test_bound_store_follows_the_callers_transaction(
    make_store: StoreMaker, count: int
) -> None:
    store = await make_store()
    kept, dropped = [job() for _ in range(count)], [job() for _ in range(count)]
    async with await psycopg.AsyncConnection.connect(URL) as conn:
        await store.bound_to(conn).insert_jobs(dropped)
        await conn.rollback()
        await store.bound_to(conn).insert_jobs(kept)
        assert await store.get_jobs([j.id for j in kept]) == []  # not yet committed
        await conn.commit()
    assert len(await store.get_jobs([j.id for j in kept])) == count
    assert await store.get_jobs([j.id for j in dropped]) == []


@pytest.mark.parametrize("count", [1, COPY_THRESHOLD])
async def test_blocking_bound_store_follows_the_callers_transaction(
    make_store: StoreMaker, count: int
) -> None:
    store = await make_store()
    kept, dropped = [job() for _ in range(count)], [job() for _ in range(count)]

    def enqueue() -> None:
        with psycopg.connect(URL) as conn:
            with conn.transaction(force_rollback=True):
                store.bound_to_blocking(conn).insert_jobs(dropped)
            with conn.transaction():
                store.bound_to_blocking(conn).insert_jobs(kept)

    await asyncio.to_thread(enqueue)
    assert len(await store.get_jobs([j.id for j in kept])) == count
    assert await store.get_jobs([j.id for j in dropped]) == []


# -- wake-ups and reconnection ---------------------------------------------------------


async def test_listen_wakes_a_waiting_worker_within_milliseconds(make_store: StoreMaker) -> None:
    worker, producer = await make_store(), await make_store()
    assert await worker.listening()
    await worker.wait_for_jobs(0)
    latencies = []
    for _ in range(5):
        waiter = asyncio.create_task(worker.wait_for_jobs(10))
        await asyncio.sleep(0)
        started = time.monotonic()
        await producer.insert_jobs([job()])
        await waiter
        latencies.append(time.monotonic() - started)
    assert min(latencies) < 0.05, latencies
    assert max(latencies) < 1.0, latencies


async def test_other_schemas_do_not_wake_this_store(make_store: StoreMaker) -> None:
    store = await make_store()
    other = PostgresStore(URL, schema=f"{store.schema}_other", min_size=1, max_size=2)
    try:
        await other.open()
        assert await store.listening()
        await store.wait_for_jobs(0)
        waiter = asyncio.create_task(store.wait_for_jobs(0.5))
        await other.insert_jobs([job()])
        started = time.monotonic()
        await waiter
        assert time.monotonic() - started > 0.2
    finally:
        await other.close()
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(other.schema)))


def _terminate(store: PostgresStore) -> int:
    with psycopg.connect(URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (store.application_name,),
        ).fetchall()
    return len(rows)


async def test_store_recovers_after_its_connections_are_terminated(
    make_store: StoreMaker,
) -> None:
    store, producer = await make_store(), await make_store()
    assert await store.listening()
    first = job()
    await store.insert_jobs([first])

    assert _terminate(store) >= 2  # the pool's connection and the LISTEN one

    # Reads and idempotent writes retry once on a fresh connection.
    assert (await store.get_job(first.id)) is not None
    assert await store.ping()
    claimed = await store.fetch_jobs("w", None, 10, NOW)
    assert [j.id for j in claimed] == [first.id]
    await store.start_jobs([first.id], "w", NOW)
    await store.complete_jobs("w", [Completion(first.id, 42, NOW)])
    done = await store.get_job(first.id)
    assert done is not None and done.status is Status.COMPLETED and done.result == 42

    # The listener reconnects by itself and wakes on NOTIFY again.
    assert await store.listening()

    async def woken_by_insert() -> bool:
        await store.wait_for_jobs(0)
        waiter = asyncio.create_task(store.wait_for_jobs(0.5))
        await asyncio.sleep(0)
        await producer.insert_jobs([job()])
        started = time.monotonic()
        await waiter
        return time.monotonic() - started < 0.4

    await eventually(woken_by_insert, timeout=10, what="a listener woken by the insert")


# -- maintenance ------------------------------------------------------------------


async def test_a_prune_round_skips_at_once_while_another_round_runs(
    make_store: StoreMaker, schema: str
) -> None:
    """Rounds are kept apart by a transaction-level advisory try-lock: a second
    runner does nothing and does not wait for the first one's round to end."""
    store = await make_store()
    old = datetime(2025, 1, 1, tzinfo=UTC)
    await store.insert_jobs([job(status=Status.COMPLETED, created_at=old, completed_at=old)])
    request = PruneRequest(
        runner="b", before=NOW, limit=10, now=NOW, lease_until=NOW + timedelta(minutes=1)
    )
    async with await psycopg.AsyncConnection.connect(URL) as other_round:
        await other_round.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"uno_jobs:prune:{schema}",)
        )
        started = time.monotonic()
        assert await asyncio.wait_for(store.prune(request), timeout=5) is None
        assert time.monotonic() - started < 2
        await other_round.rollback()
    assert await store.prune(request) == Pruned(jobs=1, occurrences=0)
