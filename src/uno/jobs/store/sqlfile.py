"""Named-query SQL files, shared by the SQL backends.

A file holds blocks introduced by ``-- name: query_name`` lines; everything up
to the next such line is that query's text. Keeping SQL in files keeps it in
one place per database, readable and diffable as SQL.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)


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
def load_queries(package: str, filename: str) -> dict[str, str]:
    """The named queries of ``filename`` in ``package``, read once per process."""
    text = files(package).joinpath(filename).read_text(encoding="utf-8")
    return parse_queries(text)
