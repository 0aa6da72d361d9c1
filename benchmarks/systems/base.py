"""What every benchmarked system provides to the harness.

A system module must not import its job library at the top: the harness loads
every module to list them, also when a peer is not installed. Configuration
reaches the module (in the harness and in the worker process alike) through
environment variables that ``System.env`` returns.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Context:
    """Where a benchmark invocation keeps its files and finds its services."""

    workdir: Path
    postgres_url: str
    redis_url: str
    tag: str

    def database_url(self, name: str) -> str:
        """A URL naming database ``bench_<name>_<tag>`` on the benchmark server."""
        parts = urlsplit(self.postgres_url)
        return urlunsplit(parts._replace(path=f"/bench_{name}_{self.tag}"))


class System:
    """A job system under test, driven from the harness process.

    Lifecycle per workload: ``reset()`` (empty state, connections open), then
    enqueues, a worker process started from ``worker_argv()``; ``close()`` at
    the end of a run and ``destroy()`` once at the end.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    backend: ClassVar[str]  # "sqlite", "postgres" or "redis"
    is_uno: ClassVar[bool] = False
    #: import names that must be present for the system to run
    requires: ClassVar[tuple[str, ...]] = ()
    #: distributions whose versions are printed with the results
    distributions: ClassVar[tuple[str, ...]] = ()
    #: how the worker is configured, printed with the results
    worker_config: ClassVar[str] = ""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @classmethod
    def missing(cls) -> str | None:
        """Why the system cannot run here, or None."""
        absent = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        return f"not installed: {', '.join(absent)}" if absent else None

    def env(self) -> dict[str, str]:
        """Variables that configure the module in the harness and in the worker."""
        return {}

    async def reset(self) -> None:
        """Make the system empty and ready for enqueues."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the harness side's connections."""

    async def destroy(self) -> None:
        """Remove databases and files made for the benchmark."""

    async def enqueue_one(self, enqueued_at: float) -> None:
        """Enqueue one no-op job whose argument is ``enqueued_at``."""
        raise NotImplementedError

    async def enqueue_bulk(self, stamps: list[float]) -> bool:
        """Enqueue one job per stamp with the system's bulk API in one call.

        Returns False (having enqueued nothing) when the system has none.
        """
        return False

    def worker_argv(self) -> list[str]:
        """The command that runs one worker process of this system."""
        return [sys.executable, "-m", "benchmarks.worker", self.name]

    #: True when the system has an HTTP API that ``api_benchmark`` measures
    serves_api: ClassVar[bool] = False

    async def api_benchmark(
        self, seconds: float, connections: int, seed_jobs: int, work: Any
    ) -> dict[str, float]:
        """Requests/s of ``POST`` and ``GET`` on the system's HTTP API."""
        raise NotImplementedError

    @staticmethod
    def run_worker() -> None:
        """In the worker process: consume jobs until SIGTERM or SIGINT."""
        raise NotImplementedError


# -- helpers shared by several systems -----------------------------------------
def recreate_database(admin_url: str, url: str) -> None:
    """Drop (closing other sessions) and create the database named by ``url``."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def env_path(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run this through benchmarks/run.py")
    return value
