"""`uno-jobs migrate`: create or upgrade the schema (start-up does it too)."""

from __future__ import annotations

import asyncio

import typer

from uno.jobs.cli import cli
from uno.jobs.cli.options import DatabaseOption, command_settings
from uno.jobs.private_files import prepare_sqlite_file
from uno.jobs.settings import Settings
from uno.jobs.store import create_store


@cli.command()
def migrate(
    database: DatabaseOption = None,
) -> None:
    """Apply the schema migrations the database is missing, and say which."""
    settings = command_settings(database)
    url = settings.resolved_database_url
    if url.startswith("sqlite:"):
        prepare_sqlite_file(settings)
    applied = asyncio.run(_migrate(url, settings))  # a failure is reported by ``main``
    typer.echo(f"{settings.shown_database_url}: {migration_report(applied, _shipped(url))}")


def migration_report(applied: list[str], shipped: list[str]) -> str:
    """What a migration did, in words: created, upgraded from one version to another,
    or up to date. Versions are the names of the last migration before and after."""
    if not applied:
        return f"schema up to date (at {shipped[-1]})" if shipped else "schema up to date"
    if len(applied) == len(shipped):
        return f"schema created ({len(applied)} migrations, now at {applied[-1]})"
    before = shipped[len(shipped) - len(applied) - 1]
    names = ", ".join(applied)
    return f"schema upgraded from {before} to {applied[-1]} (applied {names})"


def _shipped(url: str) -> list[str]:
    """Names of the migrations the package ships for the URL's engine."""
    if url.startswith("sqlite:"):
        from uno.jobs.store.sqlite.migrations import available_migrations
    else:
        from uno.jobs.store.postgres.migrations import available_migrations
    return [name for name, _ in available_migrations()]


async def _migrate(url: str, settings: Settings) -> list[str]:
    store = create_store(url, settings=settings)
    try:
        await store.open()  # opening applies the missing migrations, once
        return store.applied_at_open
    finally:
        await store.close()
