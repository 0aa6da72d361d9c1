"""Versioned schema migrations, shipped as numbered ``.sql`` files.

All missing migrations are applied in one transaction under an advisory lock
keyed on the schema, so any number of processes may start at once: the first
applies them, the others wait and then find nothing to do.
"""

from __future__ import annotations

from importlib.resources import files

import psycopg
from psycopg import sql

_PACKAGE = "uno.jobs.store.postgres"


def available_migrations() -> list[tuple[str, str]]:
    """``(name, sql)`` of every shipped migration, in order."""
    folder = files(_PACKAGE).joinpath("migrations")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(n.removesuffix(".sql"), folder.joinpath(n).read_text(encoding="utf-8")) for n in names]


def schema_snapshot() -> str:
    """The SQL of ``schema.sql``: the schema all migrations add up to."""
    return files(_PACKAGE).joinpath("schema.sql").read_text(encoding="utf-8")


async def migrate(conn: psycopg.AsyncConnection, schema: str) -> list[str]:
    """Apply the missing migrations to ``schema`` (created if needed); return their names."""
    ident = sql.Identifier(schema)
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"uno_jobs:migrate:{schema}",)
        )
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(ident))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT name FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        for name, text in available_migrations():
            if name in done:
                continue
            await conn.execute(text.encode())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            applied.append(name)
    return applied
