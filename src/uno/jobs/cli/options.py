"""Options every process command shares, and loading the user's job system."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from uno.jobs.errors import JobsError
from uno.jobs.loading import load_app
from uno.jobs.private_files import private_dir
from uno.jobs.settings import ENV_PREFIX, Settings
from uno.jobs.system import JobSystem

log = logging.getLogger("uno.jobs.cli")

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
LogFormatOption = Annotated[
    str,
    typer.Option("--log-format", help="text, or json: one JSON object per line."),
]


#: The module ``serve`` runs when no ``--app`` is given.
DEMO_APP = "uno.jobs.demo"
#: The demo's own database file in the data folder: the demo server and a worker
#: for your own tasks (on ``jobs.db``) never claim each other's jobs.
DEMO_DATABASE_FILE = "demo.db"


def command_settings(database: str | None = None, **flags: Any) -> Settings:
    """The settings a command runs with: the environment, then its flags."""
    return Settings.from_env().with_(database_url=database, **flags)


def load_system(
    app: str | None, log_level: str, log_format: str = "text", **flags: Any
) -> JobSystem:
    """Set up logging and load the user's JobSystem, built from the final settings.

    The final settings are the environment's with the command's flags on top. The
    flags are in the environment while the app's module is imported, so the
    ``JobSystem()`` it makes at import is built with them, and the tasks' own
    calls (``jobs.enqueue`` inside a task) use the same database. A system that
    was built otherwise (a module imported before, a URL written in the code) is
    not changed after the fact: a new one is built from the final settings with
    its tasks. A module that cannot be loaded ends the command with exit 2.
    """
    configure_logging(log_level, log_format)
    spec = app or DEMO_APP
    settings = command_settings(flags.pop("database_url", None), **flags)
    if spec.partition(":")[0] == DEMO_APP and not settings.database_url:
        demo_file = private_dir(settings.data_dir) / DEMO_DATABASE_FILE
        settings = settings.with_(database_url=f"sqlite:///{demo_file}")
    given = {"database_url": settings.database_url, **flags}
    try:
        with _in_environment(given):
            system = load_app(spec, settings=settings)
    except JobsError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    differing = [
        n
        for n, v in given.items()
        if v is not None and getattr(system.settings, n) != getattr(settings, n)
    ]
    if not differing:
        return system
    log.warning(
        "%s's JobSystem was built with other settings (%s): serving its tasks on a "
        "system built from this command's",
        spec,
        ", ".join(differing),
    )
    return JobSystem(settings=settings, registry=system.registry, clock=system.clock)


@contextmanager
def _in_environment(values: dict[str, Any]) -> Iterator[None]:
    """``UNO_JOBS_<NAME>`` set to each non-None value for the block, then restored."""
    saved = {env_name(n): os.environ.get(env_name(n)) for n, v in values.items() if v is not None}
    try:
        for name, value in values.items():
            if value is not None:
                os.environ[env_name(name)] = str(value)
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def env_name(setting: str) -> str:
    """The environment variable of a ``Settings`` field."""
    return ENV_PREFIX + setting.upper()


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


def configure_logging(log_level: str, log_format: str = "text") -> None:
    """Root logging at ``log_level``, as text lines or (``json``) one object a line,
    written in short batches (``uno.jobs.logs.LineHandler``: at most 0.2 s late,
    warnings and errors at once, everything at exit)."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter(f"--log-format must be text or json, got {log_format!r}")
    from uno.jobs.logs import JsonFormatter, LineFormatter, LineHandler

    handler = LineHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else LineFormatter())
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
