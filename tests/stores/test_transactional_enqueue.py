"""Transactional enqueue through the public API: a job written on the caller's own
PostgreSQL connection exists, and runs, only if the caller's transaction commits.

``enqueue(..., connection=aconn)`` / ``enqueue_many(..., connection=aconn)`` take a
psycopg ``AsyncConnection``; ``enqueue_on(conn, ...)`` / ``enqueue_many_on`` take a
blocking ``Connection`` and need no event loop. SQLite refuses them clearly.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from helpers import StoreFactory
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

    def application_code() -> list[str]:
        """Plain synchronous code in a thread without an event loop."""
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()
        with psycopg.connect(url) as conn:
            with conn.transaction(force_rollback=True):
                system.enqueue_on(conn, "note", ["dropped"])
            with conn.transaction():
                one = system.enqueue_on(conn, "note", ["kept"])
                many = system.enqueue_many_on(conn, [JobRequest("note", ["also"])])
        return [one.id, many[0].id]

    ids = await asyncio.to_thread(application_code)
    await recorder.drain()
    assert sorted(recorder.ran) == ["also", "kept"]
    assert len(await system.store.get_jobs(ids)) == 2


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
    await recorder.drain()
    assert recorder.ran == []
