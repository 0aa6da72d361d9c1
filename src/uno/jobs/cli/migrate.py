"""`uno-jobs migrate`: create or upgrade the schema (start-up does it too)."""

from __future__ import annotations

import asyncio

import typer

from uno.jobs.cli import cli
from uno.jobs.cli.options import DatabaseOption
from uno.jobs.private_files import prepare_sqlite_file
from uno.jobs.settings import Settings
from uno.jobs.store import create_store


@cli.command()
def migrate(
    database: DatabaseOption = None,
) -> None:
    """Apply the schema migrations the database is missing."""
    settings = Settings.from_env().with_(database_url=database)
    url = settings.resolved_database_url
    if url.startswith("sqlite:"):
        prepare_sqlite_file(settings)
    asyncio.run(_migrate(url, settings))  # a failure is reported by ``main`` in one line
    typer.echo(f"{settings.shown_database_url}: schema up to date")


async def _migrate(url: str, settings: Settings) -> None:
    store = create_store(url, settings=settings)
    try:
        await store.open()  # opening applies the missing migrations
        await store.migrate()
    finally:
        await store.close()
