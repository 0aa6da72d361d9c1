"""How operator commands answer: a table for people, ``--json`` for scripts.

The JSON of every command is the REST API's DTO for the same thing (``JobViewDto``,
``JobListDto``, ``QueueListDto``, ``ScheduleViewDto``, ``JobStatsDto``...), so a
script written against one reads the other; ``docs/cli.md`` lists them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from uno.jobs.errors import JobsError

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print JSON (the REST API's schema) instead of a table."),
]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do it without asking (needed without a terminal).")
]


class Refused(JobsError):
    """A destructive command was not confirmed."""


def console() -> Console:
    """Standard output; wide enough for ids when it is not a terminal."""
    return Console(width=None if sys.stdout.isatty() else 200, soft_wrap=not sys.stdout.isatty())


def print_json(value: BaseModel | dict[str, Any] | list[Any]) -> None:
    """One JSON document on standard output."""
    if isinstance(value, BaseModel):
        typer.echo(value.model_dump_json(indent=2))
    else:
        typer.echo(json.dumps(value, indent=2, default=str))


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(shown(value) for value in row))
    console().print(table)


def print_fields(title: str, fields: Iterable[tuple[str, Any]]) -> None:
    """A record as two columns, field and value."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in fields:
        table.add_row(name, shown(value))
    console().print(table)


def shown(value: Any) -> str:
    """A value as one table cell: times to the second in UTC, JSON for structures."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    if hasattr(value, "value"):  # an enum
        return str(value.value)
    return str(value)


def confirm(question: str, yes: bool) -> None:
    """Go on when ``yes`` or when the person at the terminal says so; else ``Refused``.

    Without a terminal nobody can answer, so the command is refused at once and
    says to pass ``--yes``.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise Refused(f"{question} Refused without --yes (no terminal to ask)")
    if not typer.confirm(question, default=False):
        raise Refused("Not confirmed: nothing changed")
