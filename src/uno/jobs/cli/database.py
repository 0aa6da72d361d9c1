"""The operator commands' access to the configured database.

They work on the database directly (``--database`` or ``UNO_JOBS_DATABASE_URL``,
else the embedded file), without the tasks' code and without a server. They
never create a database: a SQLite file that does not exist is a mistake in the
URL or the folder, and an empty new file would only hide it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from uno.jobs.cli.options import command_settings
from uno.jobs.errors import ValidationError
from uno.jobs.limits import Limits, check_count
from uno.jobs.settings import Settings, sqlite_file
from uno.jobs.system import JobSystem

T = TypeVar("T")


class NoDatabase(FileNotFoundError):
    """The SQLite file an operator command was pointed at does not exist."""


def operator_settings(database: str | None) -> Settings:
    """The command's settings; ``NoDatabase`` when its SQLite file is missing."""
    settings = command_settings(database)
    path = sqlite_file(settings.resolved_database_url)
    if path is not None and not path.exists():
        raise NoDatabase(
            f"No database at {path.absolute()}: give --database (or UNO_JOBS_DATABASE_URL), "
            "or start a worker or server there first"
        )
    return settings


def on_database(database: str | None, work: Callable[[JobSystem], Awaitable[T]]) -> T:
    """Run ``work`` with a JobSystem on the configured database, then close it."""
    settings = operator_settings(database)

    async def run() -> T:
        system = JobSystem(settings=settings)
        try:
            return await work(system)
        finally:
            await system.close()

    return asyncio.run(run())


def check_page(limit: int, offset: int, limits: Limits) -> None:
    """A page as the REST API bounds it: 1 to ``max_page_size`` items from an offset
    of at most ``max_offset`` (``ValidationError`` otherwise)."""
    if limit < 1:
        raise ValidationError(f"limit must be 1 or more, got {limit}")
    check_count(limit, "limit", limits.max_page_size)
    check_count(offset, "offset", limits.max_offset)
