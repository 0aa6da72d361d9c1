"""Fixtures shared by the whole suite.

``store`` runs a test once per backend: SQLite on a fresh file, and PostgreSQL
in a fresh schema of ``UNO_JOBS_TEST_POSTGRES_URL``. Where PostgreSQL is not
reachable (or its store is not importable) those runs are skipped, except when
``CI`` is set: then they fail, so CI never passes by skipping.
"""

from __future__ import annotations

import sys
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


@pytest.fixture(params=BACKENDS)
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """A factory of open stores, all on one fresh database; closed afterwards."""
    backend: str = request.param
    opened: list[Store] = []
    schema = f"test_{uuid.uuid4().hex[:16]}"

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
        if backend == "postgres":
            drop_schema(schema)


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
