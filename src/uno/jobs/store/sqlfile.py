"""Named-query SQL files, shared by the SQL backends.

A file holds blocks introduced by ``-- name: query_name`` lines; everything up
to the next such line is that query's text. Keeping SQL in files keeps it in
one place per database, readable and diffable as SQL.

Parts that are the same description written for every statement (the job
column lists, generated from ``store/columns.py``) appear in a file as
``{{slot}}`` and are filled in once, when the store loads its queries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)

#: A slot: double braces, so single braces (JSON, ``'{}'`` arrays, ``{schema}``) stay literal.
_SLOT = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_queries(text: str, slots: Mapping[str, str]) -> str:
    """``text`` with every ``{{name}}`` replaced by ``slots[name]``.

    A slot the text names but ``slots`` lacks, or a slot given that the text
    never names, raises ``ValueError``: either means the file and the code that
    fills it have drifted apart, which must not pass unnoticed.
    """
    used: set[str] = set()
    unknown: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in slots:
            unknown.add(name)
            return match.group(0)
        used.add(name)
        return slots[name]

    rendered = _SLOT.sub(fill, text)
    if unknown:
        raise ValueError(f"Unknown query slot(s): {', '.join(sorted(unknown))}")
    unused = set(slots) - used
    if unused:
        raise ValueError(f"Query slot(s) never used: {', '.join(sorted(unused))}")
    return rendered


def parse_queries(text: str) -> dict[str, str]:
    """Split the text of a named-query file into ``{name: sql}``.

    Comment-only lines inside a block are kept (SQLite and PostgreSQL ignore
    them); a trailing ``;`` is stripped so the query can be embedded or run
    with parameters. Duplicate names are an error: one of them would be lost.
    """
    queries: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        name = match.group(1)
        if name in queries:
            raise ValueError(f"Query {name!r} is defined twice")
        sql = text[match.end() : end].strip()
        queries[name] = sql.rstrip().removesuffix(";").rstrip()
    return queries


@cache
def _read(package: str, filename: str) -> str:
    return files(package).joinpath(filename).read_text(encoding="utf-8")


def load_queries(
    package: str, filename: str, slots: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The named queries of ``filename`` in ``package`` (the file is read once per process).

    With ``slots``, the file is rendered first (``render_queries``); a store
    loads its queries so once, at import. Without, the text is parsed as it is
    written, for callers that need only queries without slots.
    """
    text = _read(package, filename)
    if slots is not None:
        text = render_queries(text, slots)
    return parse_queries(text)
