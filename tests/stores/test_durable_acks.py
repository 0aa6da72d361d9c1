"""``Settings.worker_durable_acks`` reaches the transactions of a worker's bookkeeping.

Each write is watched from inside its own transaction: a trigger on the tables it
changes records the durability the session commits with (PostgreSQL's
``synchronous_commit``, SQLite's ``PRAGMA synchronous``), so what is checked is the
connection the statement really ran on, not a flag on the store. Enqueues and every
other write keep the store's durable default whatever the setting.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from helpers import EPOCH, POSTGRES_URL, drop_schema, make_job, postgres_problem, skip_or_fail
from uno.jobs.jobs import JobError
from uno.jobs.settings import Settings
from uno.jobs.store import Completion, Failure, Store, create_store

W = "worker-1"
WATCHED = ("jobs", "workers", "job_progress")
#: What the probe reads on each engine, for an enqueue and for durable / async acks.
ENQUEUE = {"sqlite": "NORMAL", "postgres": "on"}
ACK = {
    ("sqlite", True): "FULL",
    ("sqlite", False): "NORMAL",
    ("postgres", True): "on",
    ("postgres", False): "off",
}
SQLITE_LEVELS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}

Probe = Callable[[Callable[[], Awaitable[Any]]], Awaitable[set[str]]]


async def _sqlite_probe(store: Any) -> Probe:
    """Temporary triggers on the writing connection call back into Python, which
    reads ``PRAGMA synchronous`` on that connection in the middle of the write."""
    seen: list[str] = []

    def install() -> None:
        conn = store._conn

        def level() -> int:
            seen.append(SQLITE_LEVELS[conn.execute("PRAGMA synchronous").fetchone()[0]])
            return 0

        conn.create_function("durability_probe", 0, level)
        for table in WATCHED:
            for event in ("INSERT", "UPDATE"):
                conn.execute(
                    f"CREATE TEMP TRIGGER probe_{table}_{event} AFTER {event} ON main.{table} "
                    "BEGIN SELECT durability_probe(); END"
                )

    await store._run(install)

    async def during(write: Callable[[], Awaitable[Any]]) -> set[str]:
        seen.clear()
        await write()
        return set(seen)

    return during


async def _postgres_probe(schema: str) -> AsyncIterator[Probe]:
    """Statement triggers write the session's ``synchronous_commit`` to a log table."""
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as conn:
        ident = sql.Identifier(schema)
        await conn.execute(
            sql.SQL(
                "CREATE TABLE {s}.probe_log (level text);"
                "CREATE FUNCTION {s}.durability_probe() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN INSERT INTO {log} VALUES (current_setting('synchronous_commit'));"
                " RETURN NULL; END $$"
            ).format(s=ident, log=sql.Identifier(schema, "probe_log"))
        )
        for table in WATCHED:
            await conn.execute(
                sql.SQL(
                    "CREATE TRIGGER durability_probe AFTER INSERT OR UPDATE ON {t} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION {f}()"
                ).format(
                    t=sql.Identifier(schema, table),
                    f=sql.Identifier(schema, "durability_probe"),
                )
            )
        log = sql.Identifier(schema, "probe_log")

        async def during(write: Callable[[], Awaitable[Any]]) -> set[str]:
            await conn.execute(sql.SQL("DELETE FROM {}").format(log))
            await write()
            rows = await (
                await conn.execute(sql.SQL("SELECT level FROM {}").format(log))
            ).fetchall()
            return {row[0] for row in rows}

        yield during


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[True, False], ids=["durable", "async"])
def durable(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
async def watched(
    backend: str, durable: bool, tmp_path: Path
) -> AsyncIterator[tuple[Store, Probe]]:
    """A store made from settings, and a probe of the durability its writes commit with."""
    settings = Settings(worker_durable_acks=durable)
    if backend == "sqlite":
        store = create_store(f"sqlite:///{tmp_path / 'jobs.db'}", settings=settings)
        await store.open()
        try:
            yield store, await _sqlite_probe(store)
        finally:
            await store.close()
        return
    if problem := postgres_problem():
        skip_or_fail(problem)
    schema = f"test_acks_{uuid.uuid4().hex[:12]}"
    store = create_store(POSTGRES_URL, settings=settings, schema=schema)
    try:
        await store.open()
        async for probe in _postgres_probe(schema):
            yield store, probe
    finally:
        await store.close()
        drop_schema(schema)


async def test_the_setting_reaches_the_bookkeeping_and_only_it(
    watched: tuple[Store, Probe], backend: str, durable: bool
) -> None:
    store, during = watched
    enqueue, ack = {ENQUEUE[backend]}, {ACK[backend, durable]}
    now = EPOCH + timedelta(seconds=1)
    jobs = [make_job(id=f"j{i}") for i in range(3)]
    error = JobError("RuntimeError", "boom")

    assert await during(lambda: store.insert_jobs(jobs[:2])) == enqueue
    assert await during(lambda: store.register_worker(W, "host", 1, None, now)) == enqueue
    assert await during(lambda: store.fetch_jobs(W, None, 2, now, running=2)) == ack
    assert await during(lambda: store.heartbeat(W, now)) == ack
    assert await during(lambda: store.report_progress(jobs[0].id, W, 0.5, "", now)) == ack
    done = [Completion(jobs[0].id, None, now)]
    assert await during(lambda: store.complete_jobs(W, done)) == ack
    failed = [Failure(jobs[1].id, error, now)]
    assert await during(lambda: store.fail_jobs(W, failed)) == ack
    # after the bookkeeping, an enqueue and an operator's write are durable again
    assert await during(lambda: store.insert_jobs(jobs[2:])) == enqueue
    assert await during(lambda: store.cancel_job(jobs[2].id, None, now)) == enqueue


def test_the_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).worker_durable_acks is None  # the store's own default
    assert Settings.from_env({"UNO_JOBS_WORKER_DURABLE_ACKS": ""}).worker_durable_acks is None
    for word in ("0", "false", "No", " off "):
        env = {"UNO_JOBS_WORKER_DURABLE_ACKS": word}
        assert Settings.from_env(env).worker_durable_acks is False
    for word in ("1", "TRUE", "yes", " on "):
        env = {"UNO_JOBS_WORKER_DURABLE_ACKS": word}
        assert Settings.from_env(env).worker_durable_acks is True


def test_unset_each_store_commits_acks_as_its_other_writes(tmp_path: Path) -> None:
    """Durable on PostgreSQL (every write there is flushed at commit), asynchronous
    on SQLite (every write there commits with synchronous=NORMAL)."""
    sqlite = create_store(f"sqlite:///{tmp_path / 'jobs.db'}", settings=Settings())
    postgres = create_store("postgresql://postgres@127.0.0.1/test", settings=Settings())
    assert (sqlite.durable_acks, postgres.durable_acks) == (False, True)  # type: ignore[attr-defined]
    told = Settings(worker_durable_acks=False)
    assert create_store("postgresql://x@127.0.0.1/y", settings=told).durable_acks is False  # type: ignore[attr-defined]


def test_a_mistyped_value_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="UNO_JOBS_WORKER_DURABLE_ACKS must be one of"):
        Settings.from_env({"UNO_JOBS_WORKER_DURABLE_ACKS": "sometimes"})


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ([], {}, None),
        (["--durable-acks"], {}, True),
        (["--async-acks"], {"UNO_JOBS_WORKER_DURABLE_ACKS": "1"}, False),
        (["--durable-acks"], {"UNO_JOBS_WORKER_DURABLE_ACKS": "0"}, True),
        ([], {"UNO_JOBS_WORKER_DURABLE_ACKS": "on"}, True),
    ],
)
def test_the_worker_command_takes_the_setting(
    flag: list[str],
    env: dict[str, str],
    expected: bool | None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """``uno-jobs worker --durable-acks/--async-acks`` beats the environment; the
    system the worker runs is built with the final value."""
    from typer.testing import CliRunner

    from uno.jobs.cli import _register_commands, cli, worker

    _register_commands()
    monkeypatch.delenv("UNO_JOBS_WORKER_DURABLE_ACKS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ran: list[bool | None] = []

    async def run_worker(system: Any, *, queues: Any = None) -> None:
        ran.append(system.settings.worker_durable_acks)

    monkeypatch.setattr(worker, "run_worker", run_worker)
    database = f"sqlite:///{tmp_path / 'jobs.db'}"
    result = CliRunner().invoke(cli, ["worker", "--database", database, *flag])
    assert result.exit_code == 0, result.output
    assert ran == [expected]
