"""`uno-jobs migrate`: create or upgrade the schema (start-up does it too)."""

from __future__ import annotations

import asyncio

import typer

from uno.jobs.cli import cli
from uno.jobs.cli.options import DatabaseOption
from uno.jobs.settings import Settings
from uno.jobs.store import create_store


@cli.command()
def migrate(
    database: DatabaseOption = None,
) -> None:
    """Apply the schema migrations the database is missing."""
    settings = Settings.from_env().with_(database_url=database)
    url = settings.resolved_database_url
    if url.startswith("sqlite:") and not database and not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(_migrate(url))
    except Exception as exc:
        typer.echo(f"Error: cannot migrate {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{url}: schema up to date")


async def _migrate(url: str) -> None:
    store = create_store(url)
    try:
        await store.open()  # opening applies the missing migrations
        await store.migrate()
    finally:
        await store.close()
