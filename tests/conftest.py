"""Fixtures shared by the whole suite.

``store`` runs a test once per backend: SQLite on a fresh file, and PostgreSQL
in a fresh schema of ``UNO_JOBS_TEST_POSTGRES_URL``. Where PostgreSQL is not
reachable (or its store is not importable) those runs are skipped, except when
``CI`` is set: then they fail, so CI never passes by skipping.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from uno.jobs.clock import ManualClock
from uno.jobs.jobs import Job
from uno.jobs.store.base import Store

sys.path.insert(0, str(Path(__file__).parent))

from helpers import (
    EPOCH,
    POSTGRES_URL,
    StoreFactory,
    drop_schema,
    make_job,
    postgres_problem,
    skip_or_fail,
)
from processes import closed_port as refusing_port
from processes import silent_port as hanging_port

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the package's bytecode once, before the tests start their processes.

    The suite starts a few hundred ``uno-jobs`` and worker processes. Where writing
    bytecode is turned off (``PYTHONDONTWRITEBYTECODE``, as in some CI images), each of
    them would compile the package from source again; with the ``__pycache__`` files
    written here (ignored by git) they only read them. Where bytecode is written
    anyway, this finds it up to date. A tree that cannot be written is left as it is.
    """
    import compileall

    import uno.jobs

    compileall.compile_dir(Path(uno.jobs.__file__).parent, quiet=2)


class PreparedSchemas:
    """Fresh PostgreSQL schemas, migrated ahead by a thread while the tests run.

    Creating the schema is most of the cost of a short PostgreSQL test (a few dozen
    tables, indexes and functions). A thread creates the next ones with the store's
    own ``migrate`` while the current test runs, and drops the used ones, so the two
    overlap. A test gets a schema no other test has used, as with a new name; its
    store finds the migrations applied, as any process opening a migrated database
    does (the tests of migrating itself make their own schemas). When none is ready
    (or the thread cannot reach the database) the test takes a new name and its
    store creates the schema, as before.
    """

    READY = 2

    def __init__(self) -> None:
        self._ready: queue.Queue[str] = queue.Queue(maxsize=self.READY)
        self._to_drop: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self) -> str | None:
        """A migrated schema no test has used, or None when none is ready yet."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prepared-schemas", daemon=True)
            self._thread.start()
        try:
            return self._ready.get_nowait()
        except queue.Empty:
            return None

    def drop_later(self, schema: str) -> None:
        """Drop ``schema`` in the thread (at the latest when the session ends)."""
        if self._thread is None:
            drop_schema(schema)
        else:
            self._to_drop.put(schema)

    def close(self) -> None:
        """Stop the thread, then drop what it made and what is left to drop."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        while not self._ready.empty():
            self._to_drop.put(self._ready.get_nowait())
        self._drop_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._drop_all()
            name = f"test_{uuid.uuid4().hex[:16]}"
            try:
                asyncio.run(self._migrate(name))
            except Exception:  # unreachable for now (a restart under test): retry later
                self._to_drop.put(name)
                self._stop.wait(0.5)
                continue
            while not self._stop.is_set():
                try:
                    self._ready.put(name, timeout=0.05)
                    break
                except queue.Full:
                    self._drop_all()
            else:
                self._to_drop.put(name)

    def _drop_all(self) -> None:
        while not self._to_drop.empty():
            schema = self._to_drop.get_nowait()
            try:
                drop_schema(schema)
            except Exception:  # the server restarting under a test: try again later
                self._to_drop.put(schema)
                return

    @staticmethod
    async def _migrate(schema: str) -> None:
        import psycopg

        from uno.jobs.store.postgres.migrations import migrate

        conn = await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True)
        try:
            await migrate(conn, schema)
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def prepared_schemas() -> Iterator[PreparedSchemas]:
    schemas = PreparedSchemas()
    try:
        yield schemas
    finally:
        schemas.close()


@pytest.fixture(params=BACKENDS)
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """A factory of open stores, all on one fresh database; closed afterwards."""
    backend: str = request.param
    opened: list[Store] = []
    schema = f"test_{uuid.uuid4().hex[:16]}"
    schemas: PreparedSchemas | None = None

    if backend == "sqlite":
        from uno.jobs.store.sqlite import SQLiteStore

        url = f"sqlite:///{tmp_path / 'jobs.db'}"

        def new() -> Store:
            return SQLiteStore(url, poll_interval=0.01)
    else:
        problem = postgres_problem()
        if problem:
            skip_or_fail(problem)
        from uno.jobs.store.postgres import PostgresStore

        schemas = request.getfixturevalue("prepared_schemas")
        schema = schemas.take() or schema

        def new() -> Store:
            return PostgresStore(POSTGRES_URL, schema=schema)

    async def factory() -> Store:
        store = new()
        await store.open()
        opened.append(store)
        return store

    try:
        yield factory
    finally:
        for store in reversed(opened):
            await store.close()
        if schemas is not None:
            schemas.drop_later(schema)


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    """An open store on a fresh database, once per backend."""
    return await store_factory()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so, starting at ``EPOCH``."""
    return ManualClock(EPOCH)


@pytest.fixture(name="make_job")
def make_job_fixture() -> Callable[..., Job]:
    return make_job


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections."""
    with refusing_port() as port:
        yield port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose server never says a word: connections hang."""
    with hanging_port() as port:
        yield port
