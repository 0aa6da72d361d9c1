"""Options every process command shares, and loading the user's job system."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Annotated, Any

import typer

from uno.jobs.errors import JobsError
from uno.jobs.loading import load_app
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
    typer.Option("--database", help="Database URL (default: UNO_JOBS_DATABASE_URL or SQLite)."),
]
LogLevelOption = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]
LogFormatOption = Annotated[
    str,
    typer.Option("--log-format", help="text, or json: one JSON object per line."),
]


def load_system(
    app: str | None, log_level: str, log_format: str = "text", **settings: Any
) -> JobSystem:
    """Set up logging, load the user's JobSystem and overlay the command's flags.

    A module that cannot be loaded ends the command with exit code 2.
    """
    configure_logging(log_level, log_format)
    try:
        system = load_app(app)
    except JobsError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    system.settings = system.settings.with_(**settings)
    return system


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
    """Root logging at ``log_level``, as text lines or (``json``) one object a line."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter(f"--log-format must be text or json, got {log_format!r}")
    if log_format == "text":
        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        return
    from uno.jobs.logs import JsonFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
