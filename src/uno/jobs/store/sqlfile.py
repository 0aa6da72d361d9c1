"""Named-query SQL files, shared by the SQL backends.

A file holds blocks introduced by ``-- name: query_name`` lines; everything up
to the next such line is that query's text. Keeping SQL in files keeps it in
one place per database, readable and diffable as SQL.

What both databases must agree on (the status sets of the state machine, the
job column lists of ``store/columns.py``) is not typed in the files: they name
it as ``{{slot}}``s, which ``render_queries`` fills once, when a store loads its
file, from the domain's definitions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)
_SLOT = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


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


def render_queries(
    text: str, slots: Mapping[str, str], *, optional: Mapping[str, str] | None = None
) -> str:
    """``text`` with every ``{{name}}`` replaced by ``slots[name]`` (or ``optional[name]``).

    A slot the mappings do not fill, or one of ``slots`` the text never names,
    raises ``ValueError``: either means the file and its store disagree, and a
    query would run with a hole in it or a definition would be silently ignored.
    ``optional`` holds a family of slots a file may use in part (one per status).
    """
    fills = {**(optional or {}), **slots}
    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fills:
            raise ValueError(f"Unknown slot {{{{{name}}}}} in a query file")
        used.add(name)
        return fills[name]

    rendered = _SLOT.sub(fill, text)
    unused = sorted(set(slots) - used)
    if unused:
        raise ValueError(f"Slots never used by the query file: {', '.join(unused)}")
    return rendered


@cache
def read_sql(package: str, filename: str) -> str:
    """The text of ``filename`` in ``package``, read once per process."""
    return files(package).joinpath(filename).read_text(encoding="utf-8")


def load_queries(
    package: str,
    filename: str,
    slots: Mapping[str, str] | None = None,
    *,
    optional: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The named queries of ``filename`` in ``package``, with ``slots`` filled in
    (see ``render_queries``) when given."""
    text = read_sql(package, filename)
    if slots is not None or optional is not None:
        text = render_queries(text, slots or {}, optional=optional)
    return parse_queries(text)
