"""docs/security.md lists every bound of ``Limits`` with its setting and default.

The table is rendered from ``limits.py`` itself (each field's ``#:`` comment is its
description), so a bound added or changed in code and not in the docs fails here;
the failure message holds the table to paste.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from pathlib import Path

from uno.jobs import limits
from uno.jobs.limits import Limits

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
START = "<!-- limits-table: generated from uno.jobs.limits.Limits; a test keeps it equal -->"
END = "<!-- /limits-table -->"


def _descriptions() -> dict[str, str]:
    """Each field's ``#:`` comment lines, joined, keyed by the field's name."""
    source = inspect.getsource(limits.Limits)
    found: dict[str, str] = {}
    comment: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            comment.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+): \w+ = ", stripped)
        if match and comment:
            found[match.group(1)] = " ".join(comment)
        comment = []
    return found


def _shown(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}".replace(",", "_")


def render_table() -> str:
    described = _descriptions()
    rows = ["| bound | setting | default | what it bounds |", "| --- | --- | --- | --- |"]
    defaults = Limits()
    for spec in fields(Limits):
        description = described.get(spec.name, "")
        default = _shown(getattr(defaults, spec.name))
        rows.append(
            f"| `{spec.name}` | `{Limits.env_name(spec.name)}` | {default} | {description} |"
        )
    return "\n".join(rows)


def test_every_limit_has_a_description_in_code() -> None:
    described = _descriptions()
    missing = [spec.name for spec in fields(Limits) if spec.name not in described]
    assert not missing, f"Limits fields without a #: comment: {missing}"


def test_the_security_doc_lists_every_limit_as_in_code() -> None:
    text = DOC.read_text()
    assert START in text and END in text
    shown = text.split(START, 1)[1].split(END, 1)[0].strip()
    expected = render_table()
    assert shown == expected, f"docs/security.md's limits table should read:\n{expected}"
