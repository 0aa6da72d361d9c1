"""The ``uno-jobs`` command: serve, worker, scheduler, token, migrate."""

from __future__ import annotations

import os
import sys

import typer

cli = typer.Typer(
    name="uno-jobs",
    help="Background jobs for Python: API server, workers and schedulers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Set by ``--debug``: a failing command shows its traceback, not only its one line.
DEBUG_ENVVAR = "UNO_JOBS_DEBUG"


@cli.callback()
def options(
    debug: bool = typer.Option(
        False,
        "--debug",
        envvar=DEBUG_ENVVAR,
        help="Show the full traceback when a command fails (else one line with the reason).",
    ),
) -> None:
    """Background jobs for Python: API server, workers and schedulers."""


def _register_commands() -> None:
    """Each command lives in its own module; importing it adds it to ``cli``."""
    from uno.jobs.cli import migrate, scheduler, serve, token, worker, workers  # noqa: F401


def _debug_requested(args: list[str]) -> bool:
    """``--debug`` before the command's name, or ``UNO_JOBS_DEBUG`` set."""
    command_at = next((i for i, arg in enumerate(args) if not arg.startswith("-")), len(args))
    flag = os.environ.get(DEBUG_ENVVAR, "").strip().lower() not in ("", "0", "false", "no")
    return flag or "--debug" in args[:command_at]


def main() -> None:
    """Run the command; a failure ends it with one line on stderr and exit status 1."""
    _register_commands()
    try:
        cli()
    except Exception as exc:
        from uno.jobs.cli.failures import report

        sys.exit(report(exc, debug=_debug_requested(sys.argv[1:])))
