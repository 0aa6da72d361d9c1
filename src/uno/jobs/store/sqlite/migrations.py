"""Versioned schema migrations: numbered forward-only .sql files.

``migrations/NNNN_name.sql`` are applied in name order, each recorded in
``schema_migrations``. All missing ones run in one ``BEGIN IMMEDIATE``
transaction, so two processes starting at once cannot both apply them: the
second waits for the first, then finds nothing left to do.
"""

from __future__ import annotations

import sqlite3
import time
from importlib.resources import files

from uno.jobs.store.sqlfile import load_queries

PACKAGE = "uno.jobs.store.sqlite"


def available_migrations() -> list[tuple[str, str]]:
    """``(name, sql)`` of every shipped migration, in the order they apply."""
    folder = files(PACKAGE).joinpath("migrations")
    found = [
        (entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found)


def split_statements(script: str) -> list[str]:
    """Split a script into complete statements (``executescript`` would commit
    the surrounding transaction, so statements run one by one)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement.rstrip(";").strip():
                statements.append(statement)
            pending = ""
    tail = pending.strip()
    if tail and not all(
        part.strip().startswith("--") or not part.strip() for part in tail.splitlines()
    ):
        raise ValueError(f"Incomplete SQL statement at end of migration: {tail[:80]!r}")
    return statements


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the missing migrations on ``conn`` (in autocommit mode); return their names."""
    queries = load_queries(PACKAGE, "queries.sql")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(queries["create_migrations_table"])
        applied = {row[0] for row in conn.execute(queries["applied_migrations"])}
        done: list[str] = []
        for name, script in available_migrations():
            if name in applied:
                continue
            for statement in split_statements(script):
                conn.execute(statement)
            conn.execute(queries["record_migration"], (name, time.time()))
            done.append(name)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return done
