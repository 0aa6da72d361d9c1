"""A PostgreSQL that is down, silent or wrong gets an answer within seconds.

The database itself is never stopped: a closed loopback port stands for a
server that is down, a socket that listens but never accepts for one that hangs,
and a proxy in front of the real server, which the test can freeze or cut, for
an outage that begins after the store has opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from helpers import POSTGRES_URL, eventually, fresh_schema
from uno.jobs.api import create_app
from uno.jobs.errors import StoreUnavailable
from uno.jobs.jobs import Job
from uno.jobs.settings import PostgresSettings, Settings
from uno.jobs.store.postgres import PostgresStore
from uno.jobs.store.postgres.store import connection_params
from uno.jobs.system import JobSystem
from uno.jobs.tokens import issue_token

pytestmark = pytest.mark.postgres

URL = POSTGRES_URL
SECRET = "outage-test-secret-of-at-least-32-bytes"
#: ``/readyz``'s promise: an answer within this many seconds, whatever the database does.
READY_WITHIN = 2.0


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema name, dropped afterwards (skipped without PostgreSQL, but not in CI)."""
    with fresh_schema("outage") as name:
        yield name


class Proxy:
    """A TCP proxy to the real server that can go silent (``freeze``) or away (``cut``)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.refusing = False
        self.links: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def url(self, password: str = "") -> str:
        parsed = psycopg.conninfo.conninfo_to_dict(URL)
        auth = f"{parsed.get('user', 'postgres')}{':' + password if password else ''}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{parsed.get('dbname', 'test')}"

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a stopped server does."""
        self.refusing = True
        for writer in list(self.links):
            writer.transport.abort()

    def restore(self) -> None:
        self.refusing = False
        self.thaw()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.links |= {writer, up_writer}
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )
        self.links -= {writer, up_writer}
        for end in (writer, up_writer):
            end.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self.flowing.wait()
            if writer.transport.is_closing():
                return
            writer.write(data)
            await writer.drain()
        writer.transport.abort()

    async def close(self) -> None:
        self.restore()
        if self.server is not None:
            self.server.close()
        for writer in list(self.links):
            writer.transport.abort()


@pytest.fixture
async def proxy(schema: str) -> AsyncIterator[Proxy]:
    parsed = psycopg.conninfo.conninfo_to_dict(URL)
    proxy = Proxy((str(parsed.get("host", "127.0.0.1")), int(parsed.get("port", 5432))))
    await proxy.start()
    yield proxy
    await proxy.close()


def anonymous(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")  # type: ignore[arg-type]


# -- opening ------------------------------------------------------------------------


async def test_a_database_that_is_down_fails_opening_at_once_with_the_reason(
    closed_port: int,
) -> None:
    store = PostgresStore(f"postgresql://postgres:hunter2@127.0.0.1:{closed_port}/x")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        await store.open()
    assert time.monotonic() - started < 5.0  # was: 10 s of pool retries
    message = str(raised.value)
    assert f"postgresql://postgres:***@127.0.0.1:{closed_port}/x" in message
    assert "Connection refused" in message
    assert "hunter2" not in message and "\n" not in message


async def test_a_silent_server_fails_opening_within_the_connect_timeout(
    silent_port: int,
) -> None:
    settings = PostgresSettings(connect_timeout=2)
    store = PostgresStore(f"postgresql://postgres@127.0.0.1:{silent_port}/x", connection=settings)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="timeout"):
        await store.open()
    assert time.monotonic() - started < settings.connect_timeout + 3.0


# -- /readyz --------------------------------------------------------------------------


async def test_readyz_answers_within_two_seconds_when_the_server_is_silent(
    silent_port: int, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=f"postgresql://postgres@127.0.0.1:{silent_port}/x",
        data_dir=tmp_path,
        jwt_secret=SECRET,
        postgres=PostgresSettings(connect_timeout=2),
    )
    system = JobSystem(settings=settings)
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    async with anonymous(app) as client:
        for _ in range(2):  # the second probe finds the first check still running
            started = time.monotonic()
            response = await client.get("/readyz")
            assert time.monotonic() - started < READY_WITHIN
            assert response.status_code == 503
            assert response.json()["detail"].startswith("Store unreachable")
    await system.close()


async def test_an_open_store_that_loses_its_server_answers_within_seconds(
    proxy: Proxy, schema: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=f"{proxy.url(password='hunter2')}?schema={schema}",
        data_dir=tmp_path,
        jwt_secret=SECRET,
        postgres=PostgresSettings(pool_timeout=1.0),
    )
    system = JobSystem(settings=settings)
    app = create_app(system, embedded_worker=False, embedded_scheduler=False)
    headers = {"Authorization": f"Bearer {issue_token(settings)}"}
    try:
        async with anonymous(app) as client:
            assert (await client.get("/readyz")).status_code == 200

            proxy.freeze()  # the server hangs: its answers stop
            started = time.monotonic()
            response = await client.get("/readyz")
            assert time.monotonic() - started < READY_WITHIN
            assert response.status_code == 503
            assert "no answer within" in response.json()["detail"]
            proxy.thaw()

            proxy.cut()  # the server goes away
            started = time.monotonic()
            response = await client.get("/api/v1/jobs", headers=headers)
            assert time.monotonic() - started < settings.postgres.pool_timeout + 3.0
            assert response.status_code == 503, response.text
            detail = response.json()["detail"]
            assert "Cannot reach the database" in detail and "hunter2" not in detail

            proxy.restore()

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=15, interval=0.1, what="ready again")
    finally:
        await system.close()


# -- what every connection carries ----------------------------------------------------


async def test_connections_carry_the_timeouts_and_keepalives(schema: str) -> None:
    settings = PostgresSettings(statement_timeout=0.3, keepalives_idle=11)
    store = PostgresStore(URL, schema=schema, connection=settings)
    await store.open()
    try:
        rows = await store._query("SHOW statement_timeout", {}, idempotent=True)
        assert rows == [{"statement_timeout": "300ms"}]
        assert store._pool is not None
        async with store._pool.connection() as conn:
            params = conn.info.get_parameters()
        assert (params["keepalives"], params["keepalives_idle"]) == ("1", "11")
        assert params["connect_timeout"] == "3"
        async with (await store._bookkeeping_pool()).connection() as conn:
            shown = await (await conn.execute("SHOW statement_timeout")).fetchone()
            durable = await (await conn.execute("SHOW synchronous_commit")).fetchone()
        assert (shown, durable) == (("300ms",), ("on",))  # acks durable by default
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="statement timeout"):
            await store._query("SELECT pg_sleep(5)", {}, idempotent=True)
        assert time.monotonic() - started < 3.0  # cancelled once, not retried
        assert await store.ping()
    finally:
        await store.close()


def test_parameters_in_the_url_win_over_the_settings() -> None:
    url_params = {"connect_timeout": "9", "keepalives_idle": "42", "options": "-c work_mem=8MB"}
    params = connection_params(url_params, PostgresSettings())
    assert "connect_timeout" not in params and "keepalives_idle" not in params
    assert params["keepalives_count"] == 3
    assert params["options"] == "-c work_mem=8MB -c statement_timeout=30000"
    own = connection_params({"options": "-c statement_timeout=0"}, PostgresSettings())
    assert own["options"] == "-c statement_timeout=0"
    none = connection_params({}, PostgresSettings(connect_timeout=0, statement_timeout=0))
    assert "connect_timeout" not in none and "options" not in none


async def test_pool_timeouts_say_why_no_connection_could_be_made(proxy: Proxy, schema: str) -> None:
    store = PostgresStore(
        f"{proxy.url()}?schema={schema}",
        connection=PostgresSettings(pool_timeout=1.0),
        min_size=1,
        max_size=1,
    )
    await store.open()
    try:
        proxy.cut()
        with contextlib.suppress(StoreUnavailable):
            await store.ping()  # the broken connection is found and dropped
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as raised:
            await store._query("SELECT 1", {}, idempotent=True)
        assert time.monotonic() - started < 1.0 + 3.0
        assert "no connection within 1s" in str(raised.value)
    finally:
        proxy.restore()
        await store.close()


async def test_pruning_is_not_cut_short_by_the_statement_timeout(schema: str) -> None:
    store = PostgresStore(URL, schema=schema, connection=PostgresSettings(statement_timeout=0.05))
    await store.open()
    try:
        job = Job("t", created_at=datetime(2026, 1, 1, tzinfo=UTC))
        await store.insert_jobs([job])
        await store.cancel_job(job.id, None, datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
        with pytest.raises(StoreUnavailable, match="statement timeout"):
            await store._query("SELECT pg_sleep(0.3)", {}, idempotent=True)
        # A row lock held elsewhere makes the DELETE wait longer than the timeout.
        async with await psycopg.AsyncConnection.connect(URL) as holder:
            await holder.execute(
                sql.SQL("SELECT 1 FROM {}.jobs WHERE id = %s FOR UPDATE").format(
                    sql.Identifier(schema)
                ),
                [job.id],
            )
            pruning = asyncio.create_task(store.prune_jobs(datetime(2026, 1, 2, tzinfo=UTC)))
            await asyncio.sleep(0.3)  # the DELETE waits on the lock for this long
            assert not pruning.done()
            await holder.rollback()
        assert await pruning == 1
    finally:
        await store.close()
