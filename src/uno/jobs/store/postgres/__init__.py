"""The PostgreSQL store: SKIP LOCKED batch fetch, LISTEN/NOTIFY, shipped migrations."""

from __future__ import annotations

from uno.jobs.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
