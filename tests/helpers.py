"""Helpers shared by the test suites: building jobs, reaching PostgreSQL, and waiting
without sleeping."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

import pytest

from uno.jobs.jobs import Job
from uno.jobs.store.base import Store

T = TypeVar("T")

#: Opens one more store on the database of the current test (fixture ``store_factory``).
StoreFactory = Callable[[], Awaitable[Store]]

#: The start of every ManualClock in tests, and the default time of make_job.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


#: The database PostgreSQL tests use; each test works in a fresh schema of it.
POSTGRES_URL = os.environ.get(
    "UNO_JOBS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def skip_or_fail(reason: str) -> None:
    """Skip locally; fail in CI, where every backend must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
    pytest.skip(reason)


@cache
def postgres_problem() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can (asked once a run)."""
    try:
        import uno.jobs.store.postgres  # noqa: F401
    except ImportError as exc:
        return f"uno.jobs.store.postgres cannot be imported: {exc}"
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            pass
    except Exception as exc:
        return f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}"
    return None


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def fresh_schema(prefix: str) -> Iterator[str]:
    """The name of a new PostgreSQL schema (the stores create and migrate it), dropped
    afterwards; ``skip_or_fail`` when PostgreSQL cannot be reached."""
    problem = postgres_problem()
    if problem:
        skip_or_fail(problem)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        drop_schema(name)


def make_job(**kw: Any) -> Job:
    """A job ready to insert: task ``t``, created and due at ``EPOCH`` unless told."""
    kw.setdefault("task_name", "t")
    kw.setdefault("created_at", EPOCH)
    kw.setdefault("scheduled_at", kw["created_at"])
    return Job(**kw)


class _Patience:
    """The deadline and failure message shared by both ``eventually`` forms."""

    def __init__(self, timeout: float, what: str) -> None:
        self.timeout = timeout
        self.what = what
        self.deadline = time.monotonic() + timeout

    def give_up_unless_time_left(self, last: object) -> None:
        if time.monotonic() > self.deadline:
            raise AssertionError(f"{self.what}: not within {self.timeout}s (last: {last!r})")


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy (and return that), failing after
    ``timeout`` seconds with ``what``.

    The one polling helper: for what a test cannot await directly, such as another
    process, a server or a database recovering. ``eventually_blocking`` is the same
    for tests that are not coroutines.
    """
    patience = _Patience(timeout, what)
    while True:
        result = await check()
        if result:
            return result
        patience.give_up_unless_time_left(result)
        await asyncio.sleep(interval)


def eventually_blocking(
    check: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """``eventually`` for a synchronous test: the same deadline and failure message."""
    patience = _Patience(timeout, what)
    while True:
        result = check()
        if result:
            return result
        patience.give_up_unless_time_left(result)
        time.sleep(interval)
