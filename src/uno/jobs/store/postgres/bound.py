"""The PostgreSQL store bound to a connection the caller owns (transactional enqueue).

A web request that writes an order and enqueues its receipt e-mail wants both or
neither: the job must be written by the request's own connection, in its open
transaction, not by the store's pool. ``PostgresStore.bound_to(connection)``
returns one of these; the statements are the store's own (schema-qualified, so
the caller's ``search_path`` does not matter), and the ``pg_notify`` that wakes
workers runs in the same transaction, which PostgreSQL delivers only on commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from uno.jobs.jobs import Job

if TYPE_CHECKING:
    from uno.jobs.store.postgres.store import PostgresStore


class BoundPostgresStore:
    """``BoundStore`` on a psycopg ``AsyncConnection``."""

    __slots__ = ("_store", "connection")

    def __init__(self, store: PostgresStore, connection: psycopg.AsyncConnection[Any]) -> None:
        self._store = store
        self.connection = connection

    async def insert_jobs(self, jobs: Sequence[Job]) -> None:
        await self._store._insert_on(self.connection, jobs)


class BlockingBoundPostgresStore:
    """``BlockingBoundStore`` on a blocking psycopg ``Connection``."""

    __slots__ = ("_store", "connection")

    def __init__(self, store: PostgresStore, connection: psycopg.Connection[Any]) -> None:
        self._store = store
        self.connection = connection

    def insert_jobs(self, jobs: Sequence[Job]) -> None:
        self._store._insert_on_blocking(self.connection, jobs)
