"""The ``uno-jobs`` command: the processes (serve, worker, scheduler), the operator's
commands on the configured database (jobs, queues, schedules, stats, status), token
and migrate.

Exit status: 0 done; 1 not found, refused (a job that cannot be cancelled or retried),
or the database unreachable; 2 a bad value or option (usage). A failure is one line
on stderr, ``uno-jobs: <reason>``; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import typer

cli = typer.Typer(
    name="uno-jobs",
    help="Background jobs for Python: API server, workers, schedulers and operator commands.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Set by ``--debug``: a failing command shows its traceback, not only its one line.
DEBUG_ENVVAR = "UNO_JOBS_DEBUG"

#: The modules that define commands, in ``cli`` order; importing one adds its
#: command or group to ``cli``. A new command group is one module and one name here.
COMMAND_MODULES = (
    "serve",
    "worker",
    "scheduler",
    "jobs",
    "queues",
    "schedules",
    "stats",
    "status",
    "workers",
    "token",
    "migrate",
)


def package_version() -> str:
    """The installed distribution's version (``unknown`` when run from a bare source tree)."""
    try:
        return version("uno-jobs")
    except PackageNotFoundError:
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"uno-jobs {package_version()}")
        raise typer.Exit()


@cli.callback()
def options(
    debug: bool = typer.Option(
        False,
        "--debug",
        envvar=DEBUG_ENVVAR,
        help="Show the full traceback when a command fails (else one line with the reason).",
    ),
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Background jobs for Python: API server, workers, schedulers and operator commands."""


def _register_commands() -> None:
    """Import every module of ``COMMAND_MODULES``; each adds its commands to ``cli``."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"uno.jobs.cli.{name}")


def _plain_metavars(command: Any) -> None:
    """Give every parameter of ``command`` and its subcommands a plain metavar.

    Typer shows a parameter's Python type where none is set (``--help <bool>``,
    ``--port <int range>``); help reads better with none for flags and the
    option's name for values (``--port PORT``), as click does.
    """
    import click

    context = click.Context(command)
    for param in [*command.params, command.get_help_option(context)]:
        if param is None:
            continue
        if type(param).__name__ == "TyperArgument":
            # Typer prints an argument's type beside its name whatever its metavar.
            param.display_type_rich = lambda ctx: None
        if param.metavar is None:
            param.metavar = "" if getattr(param, "is_flag", False) else param.name.upper()
    for subcommand in getattr(command, "commands", {}).values():
        _plain_metavars(subcommand)


def _debug_requested(args: list[str]) -> bool:
    """``--debug`` before the command's name, or ``UNO_JOBS_DEBUG`` set."""
    command_at = next((i for i, arg in enumerate(args) if not arg.startswith("-")), len(args))
    flag = os.environ.get(DEBUG_ENVVAR, "").strip().lower() not in ("", "0", "false", "no")
    return flag or "--debug" in args[:command_at]


def build_command() -> Any:
    """The ``uno-jobs`` click command with every command group, as ``main`` runs it."""
    _register_commands()
    command = typer.main.get_command(cli)
    _plain_metavars(command)
    return command


def main() -> None:
    """Run the command; a failure ends it with one line on stderr (see the module's doc)."""
    command = build_command()
    try:
        command(prog_name="uno-jobs")
    except Exception as exc:
        from uno.jobs.cli.failures import report

        sys.exit(report(exc, debug=_debug_requested(sys.argv[1:])))
