"""One module per benchmarked system; each defines ``SYSTEM``, a ``System`` subclass."""

from __future__ import annotations

import importlib

from benchmarks.systems.base import System

UNO = ("uno_sqlite", "uno_postgres")
PEERS = (
    "huey_sqlite",
    "huey_redis",
    "pgqueuer",
    "procrastinate",
    "saq_redis",
    "dramatiq_redis",
    "celery_redis",
)
ALL = UNO + PEERS


def load(name: str) -> type[System]:
    """The System class of ``benchmarks/systems/<name>.py``."""
    if name not in ALL:
        raise KeyError(f"Unknown system {name!r}; known: {', '.join(ALL)}")
    module = importlib.import_module(f"benchmarks.systems.{name}")
    system: type[System] = module.SYSTEM
    return system
