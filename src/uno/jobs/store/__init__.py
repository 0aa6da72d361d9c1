"""Persistence: the Store protocol and one implementation per database engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from uno.jobs.store.base import Completion, Failure, RescuedJob, Store

if TYPE_CHECKING:
    from uno.jobs.settings import Settings

__all__ = [
    "Completion",
    "Failure",
    "RescuedJob",
    "Store",
    "create_store",
]


def create_store(url: str, *, settings: Settings | None = None, **options: object) -> Store:
    """The store for a database URL: ``sqlite:///path.db`` or ``postgresql://...``.

    ``settings`` supply what the store's engine reads from them (PostgreSQL:
    ``settings.postgres``, its timeouts and keepalives; both: the attempts kept per
    job, ``settings.limits.max_attempts_kept``, and how a worker's bookkeeping
    commits, ``settings.worker_durable_acks``); the defaults otherwise.
    """
    if settings is not None:
        options.setdefault("attempts_kept", settings.limits.max_attempts_kept)
        options.setdefault("durable_acks", settings.worker_durable_acks)
    if url.startswith("sqlite:"):
        from uno.jobs.store.sqlite import SQLiteStore

        return SQLiteStore(url, **options)  # type: ignore[arg-type]
    if url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        from uno.jobs.store.postgres import PostgresStore

        if settings is not None:
            options.setdefault("connection", settings.postgres)
        return PostgresStore(url, **options)  # type: ignore[arg-type]
    raise ValueError(f"Unsupported database URL {url!r}: use sqlite:///path.db or postgresql://...")
