"""Transactional enqueue through the public API: a job written on the caller's own
PostgreSQL connection exists, and runs, only if the caller's transaction commits.

``enqueue(..., connection=aconn)`` / ``enqueue_many(..., connection=aconn)`` take a
psycopg ``AsyncConnection``; ``enqueue_on(conn, ...)`` / ``enqueue_many_on`` take a
blocking ``Connection`` and need no event loop. SQLite refuses them clearly.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from helpers import StoreFactory, eventually
from uno.jobs import JobSystem, Status
from uno.jobs.errors import DuplicateJob, ValidationError
from uno.jobs.store.base import Store
from uno.jobs.system import JobRequest
from uno.jobs.worker import Worker

on_postgres = pytest.mark.parametrize(
    "store_factory", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
on_sqlite = pytest.mark.parametrize("store_factory", ["sqlite"], indirect=True)


class Recorder:
    """A job system over the test's store whose one task records what it ran."""

    def __init__(self, store: Store) -> None:
        self.ran: list[str] = []
        self.system = JobSystem(store=store)

        @self.system.task(max_retries=0)
        async def note(key: str) -> str:
            self.ran.append(key)
            return key

    async def drain(self) -> None:
        """Run every due job with a real Worker, then stop."""
        await Worker(self.system, concurrency=8).run(until_empty=True)


@pytest.fixture
async def recorder(store_factory: StoreFactory) -> Recorder:
    return Recorder(await store_factory())


async def _connect(recorder: Recorder, **kwargs: Any) -> Any:
    import psycopg

    return await psycopg.AsyncConnection.connect(recorder.system.store.url, **kwargs)


async def _listen(recorder: Recorder) -> Any:
    """A connection LISTENing on the store's wake-up channel, as a worker's does."""
    from psycopg import sql

    conn = await _connect(recorder, autocommit=True)
    channel = recorder.system.store.channel
    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    return conn


async def _wake_ups_so_far(recorder: Recorder, listener: Any) -> list[str]:
    """The wake-ups committed on the store's channel since the last call, oldest first.

    A marker is committed now from another connection: PostgreSQL delivers
    notifications in commit order, so what arrives before it was committed before it.
    """
    channel = recorder.system.store.channel
    async with await _connect(recorder, autocommit=True) as sender:
        await sender.execute("SELECT pg_notify(%s, 'marker')", [channel])
    payloads: list[str] = []
    async with contextlib.aclosing(listener.notifies(timeout=5)) as notifies:
        async for notify in notifies:
            if notify.payload == "marker":
                return payloads
            payloads.append(notify.payload)
    raise AssertionError(f"the marker was not delivered within 5s (got {payloads})")


@on_postgres
async def test_rolled_back_job_never_runs_committed_job_does(recorder: Recorder) -> None:
    system = recorder.system
    async with await _connect(recorder) as conn:
        dropped = await system.enqueue("note", ["dropped"], connection=conn)
        await conn.rollback()
        kept = await system.enqueue(
            "note", ["kept"], connection=conn, priority="high", queue_name="mail"
        )
        with pytest.raises(Exception, match="not found"):
            await system.get(kept.id)  # invisible until the caller commits
        await conn.commit()
    # The queue is recorded with the job, in the caller's transaction and search path.
    assert [q.name for q in await system.store.list_queues()] == ["mail"]
    await recorder.drain()
    assert recorder.ran == ["kept"]
    assert (await system.get(kept.id)).status is Status.COMPLETED
    assert (await system.get(kept.id)).priority.value == "high"
    with pytest.raises(Exception, match="not found"):
        await system.get(dropped.id)


@on_postgres
@pytest.mark.parametrize("count", [3, 100])  # one INSERT, and the COPY path
async def test_enqueue_many_on_a_connection_follows_the_transaction(
    recorder: Recorder, count: int
) -> None:
    system = recorder.system
    async with await _connect(recorder) as conn:
        async with conn.transaction(force_rollback=True):
            await system.enqueue_many(
                [JobRequest("note", [f"x{i}"]) for i in range(count)], connection=conn
            )
        async with conn.transaction():
            jobs = await system.enqueue_many(
                [JobRequest("note", [f"k{i}"]) for i in range(count)], connection=conn
            )
    await recorder.drain()
    assert sorted(recorder.ran) == sorted(f"k{i}" for i in range(count))
    assert {j.status for j in await system.store.get_jobs([j.id for j in jobs])} == {
        Status.COMPLETED
    }


@on_postgres
async def test_enqueue_on_a_blocking_connection_needs_no_event_loop(recorder: Recorder) -> None:
    import psycopg

    system = recorder.system
    url = system.store.url
    too_long = "q" * (system.settings.limits.max_name_chars + 1)

    def application_code() -> list[str]:
        """Plain synchronous code in a thread without an event loop."""
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()
        with psycopg.connect(url) as conn:
            with conn.transaction(force_rollback=True):
                system.enqueue_on(conn, "note", ["dropped"])
            with conn.transaction():
                one = system.enqueue_on(conn, "note", ["kept"])
                with pytest.raises(ValidationError, match="queue_name"):
                    system.enqueue_on(conn, "note", ["bad"], queue_name=too_long)
                many = system.enqueue_many_on(conn, [JobRequest("note", ["also"])])
        return [one.id, many[0].id]

    ids = await asyncio.to_thread(application_code)
    await recorder.drain()
    assert sorted(recorder.ran) == ["also", "kept"]
    assert len(await system.store.get_jobs(ids)) == 2


@on_postgres
@pytest.mark.parametrize("count", [1, 100])  # one INSERT, and the COPY path
async def test_a_rolled_back_enqueue_leaves_no_job_and_wakes_no_worker(
    recorder: Recorder, count: int
) -> None:
    system = recorder.system
    async with await _listen(recorder) as listener, await _connect(recorder) as conn:
        dropped = await system.enqueue_many(
            [JobRequest("note", [f"x{i}"], queue_name="dropped") for i in range(count)],
            connection=conn,
        )
        await conn.rollback()
        assert await _wake_ups_so_far(recorder, listener) == []
        await system.enqueue_many(
            [JobRequest("note", [f"k{i}"], queue_name="kept") for i in range(count)],
            connection=conn,
        )
        assert await _wake_ups_so_far(recorder, listener) == []  # not before the commit
        await conn.commit()
        assert await _wake_ups_so_far(recorder, listener) == [""]  # one per transaction
    assert await system.store.get_jobs([j.id for j in dropped]) == []
    assert [q.name for q in await system.store.list_queues()] == ["kept"]
    await recorder.drain()
    assert sorted(recorder.ran) == sorted(f"k{i}" for i in range(count))


@on_postgres
async def test_a_committed_enqueue_wakes_a_waiting_worker(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = recorder.system
    store: Any = system.store
    assert await store.listening()
    await store.wait_for_jobs(0)  # take the wake-up that LISTEN starts with
    waiting = asyncio.Event()
    wait_for_jobs = store.wait_for_jobs

    async def noted_wait(timeout: float) -> None:
        waiting.set()
        await wait_for_jobs(timeout)

    monkeypatch.setattr(store, "wait_for_jobs", noted_wait)
    worker = Worker(system, concurrency=1)
    worker.idle_timeout = 60.0  # within the test, only a wake-up makes it look again
    running = asyncio.create_task(worker.run())
    try:
        async with await _connect(recorder) as conn:
            job = await system.enqueue("note", ["kept"], connection=conn)
            await asyncio.wait_for(waiting.wait(), 5)  # it looked, found nothing, waits
            await conn.commit()

        async def completed() -> bool:
            return (await system.get(job.id)).status is Status.COMPLETED

        await eventually(completed, timeout=5)
    finally:
        await worker.stop()
        await running
    assert recorder.ran == ["kept"]


@on_postgres
@pytest.mark.parametrize("count", [1, 100])  # one INSERT, and the COPY path
async def test_a_bad_request_leaves_the_callers_transaction_usable(
    recorder: Recorder, count: int
) -> None:
    system = recorder.system
    too_long = "q" * (system.settings.limits.max_name_chars + 1)
    requests = [JobRequest("note", [f"k{i}"]) for i in range(count - 1)]
    requests.append(JobRequest("note", ["bad"], queue_name=too_long))
    async with await _connect(recorder) as conn:
        await conn.execute("CREATE TEMP TABLE orders (id int)")
        await conn.execute("INSERT INTO orders VALUES (1)")
        with pytest.raises(ValidationError, match="queue_name"):
            await system.enqueue_many(requests, connection=conn)
        # Nothing reached the connection: the caller's own work goes on and commits.
        cur = await conn.execute("SELECT count(*) FROM orders")
        assert await cur.fetchone() == (1,)
        await conn.commit()
    await recorder.drain()
    assert recorder.ran == []


@on_postgres
async def test_a_duplicate_job_id_fails_the_callers_statement(recorder: Recorder) -> None:
    system = recorder.system
    await system.enqueue("note", ["first"], job_id="same")
    async with await _connect(recorder) as conn:
        with pytest.raises(DuplicateJob):
            await system.enqueue("note", ["second"], job_id="same", connection=conn)


@on_postgres
async def test_the_wrong_kind_of_connection_is_refused_before_writing(recorder: Recorder) -> None:
    import psycopg

    system = recorder.system
    with (
        psycopg.connect(system.store.url, autocommit=True) as conn,
        pytest.raises(ValidationError, match="enqueue_on"),
    ):
        await system.enqueue("note", ["sync"], connection=conn)
    async with await _connect(recorder, autocommit=True) as aconn:
        with pytest.raises(ValidationError, match="AsyncConnection"):
            system.enqueue_on(aconn, "note", ["async"])
    await recorder.drain()
    assert recorder.ran == []


@on_sqlite
async def test_sqlite_refuses_a_connection_clearly(recorder: Recorder) -> None:
    system = recorder.system
    with pytest.raises(ValidationError, match="needs the PostgreSQL store"):
        await system.enqueue("note", ["x"], connection=object())
    with pytest.raises(ValidationError, match="needs the PostgreSQL store"):
        await system.enqueue_many([JobRequest("note", ["x"])], connection=object())
    with pytest.raises(ValidationError, match="needs the PostgreSQL store"):
        system.enqueue_on(object(), "note", ["x"])
    with pytest.raises(ValidationError, match="needs the PostgreSQL store"):
        system.enqueue_many_on(object(), [JobRequest("note", ["x"])])
    await recorder.drain()
    assert recorder.ran == []


@pytest.mark.parametrize(
    ("store_factory", "refusal", "blocking_refusal"),
    [
        ("sqlite", "needs the PostgreSQL store", "needs the PostgreSQL store"),
        pytest.param(
            "postgres",
            "takes a psycopg AsyncConnection",
            "takes a blocking psycopg Connection",
            marks=pytest.mark.postgres,
        ),
    ],
    indirect=["store_factory"],
)
async def test_binding_to_a_connection_is_part_of_the_store_protocol(
    store_factory: StoreFactory, refusal: str, blocking_refusal: str
) -> None:
    """Every store answers ``bound_to``: a bound store, or a refusal that says why."""
    store = await store_factory()
    assert isinstance(store, Store)
    with pytest.raises(ValidationError, match=refusal):
        store.bound_to(object())
    with pytest.raises(ValidationError, match=blocking_refusal):
        store.bound_to_blocking(object())
