"""Numeric settings read from the environment: one rule for every settings class.

``Limits`` and ``PostgresSettings`` are frozen dataclasses of numbers, each field
settable as an environment variable; this reads them the same way for both, so a
malformed value says the same thing whichever setting it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any


def numbers_from_env(
    cls: Any, environ: Mapping[str, str], env_name: Callable[[str], str]
) -> dict[str, Any]:
    """The fields of dataclass ``cls`` whose variable ``env_name(field)`` is set in
    ``environ``, parsed as the field's type (``int`` or ``float``)."""
    found: dict[str, Any] = {}
    for spec in fields(cls):
        name = env_name(spec.name)
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        kind: type[int] | type[float] = int if spec.type in ("int", int) else float
        try:
            found[spec.name] = kind(raw)
        except ValueError:
            raise ValueError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    return found
