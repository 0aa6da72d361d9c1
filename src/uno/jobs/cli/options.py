"""Options every process command shares, and loading the user's job system."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Annotated, Any

import typer

from uno.jobs.errors import JobsError, ValidationError
from uno.jobs.loading import load_app
from uno.jobs.private_files import private_dir
from uno.jobs.settings import ENV_PREFIX, Settings, masked_url
from uno.jobs.system import JobSystem

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        envvar="UNO_JOBS_APP",
        help="Module holding your tasks: pkg.tasks or pkg.tasks:jobs (default: the demo).",
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        metavar="URL",
        help="Database URL (default: UNO_JOBS_DATABASE_URL, else .uno-jobs/jobs.db).",
    ),
]
LogLevelOption = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]


#: The module ``serve`` runs when no ``--app`` is given.
DEMO_APP = "uno.jobs.demo"
#: The demo's own database file in the data folder: the demo server and a worker
#: for your own tasks (on ``jobs.db``) never claim each other's jobs.
DEMO_DATABASE_FILE = "demo.db"


def command_settings(database: str | None = None, **flags: Any) -> Settings:
    """The settings a command runs with: the environment, then its flags."""
    return Settings.from_env().with_(database_url=database, **flags)


def load_system(app: str | None, log_level: str, **flags: Any) -> JobSystem:
    """Set up logging and load the user's JobSystem, built from the final settings.

    The command's flags are put in the environment before the app's module is
    imported, so a ``JobSystem()`` made at import reads them (and so do worker
    processes it starts). A module that cannot be loaded, or whose system was
    built with settings that contradict the flags, ends the command with exit 2.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    spec = app or DEMO_APP
    settings = command_settings(flags.pop("database_url", None), **flags)
    if spec.partition(":")[0] == DEMO_APP and not settings.database_url:
        demo_file = private_dir(settings.data_dir) / DEMO_DATABASE_FILE
        settings = settings.with_(database_url=f"sqlite:///{demo_file}")
    given = {"database_url": settings.database_url, **flags}
    for name, value in given.items():
        if value is not None:
            os.environ[env_name(name)] = str(value)
    try:
        system = load_app(spec, settings=settings)
        _check_flags_applied(system, spec, settings, given)
    except JobsError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    return system


def env_name(setting: str) -> str:
    """The environment variable of a ``Settings`` field."""
    return ENV_PREFIX + setting.upper()


def _check_flags_applied(
    system: JobSystem, spec: str, settings: Settings, flags: dict[str, Any]
) -> None:
    """``ValidationError`` when the app's system ignores a setting the command was given."""
    for name, wanted in flags.items():
        actual = getattr(system.settings, name)
        if wanted is not None and actual != getattr(settings, name):
            raise ValidationError(
                f"{spec} builds its JobSystem with {name}={masked_url(str(actual))!r}, "
                f"not the {masked_url(str(wanted))!r} this command was given: leave it out "
                f"of the code to use {env_name(name)} and the command's flags"
            )


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived process's coroutine, on uvloop where it is installed.

    uvloop (a uvicorn[standard] dependency) cuts the event loop's own cost per
    wake-up and per socket read, which is most of an idle worker's pickup time.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)
