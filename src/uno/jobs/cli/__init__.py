"""The ``uno-jobs`` command: serve, worker, scheduler, token, migrate."""

from __future__ import annotations

import typer

cli = typer.Typer(
    name="uno-jobs",
    help="Background jobs for Python: API server, workers and schedulers.",
    no_args_is_help=True,
    add_completion=False,
)


def _register_commands() -> None:
    """Each command lives in its own module; importing it adds it to ``cli``."""
    from uno.jobs.cli import migrate, scheduler, serve, token, worker  # noqa: F401


def main() -> None:
    _register_commands()
    cli()
