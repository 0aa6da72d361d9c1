"""The SQLite store: the embedded default, one file, safe for several processes."""

from __future__ import annotations

from uno.jobs.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
