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
    """Where a benchmark invocation keeps its files and finds its services.

    ``worker_prefix`` and ``worker_netloc`` place worker processes elsewhere on
    the network (``benchmarks/network.py``): the prefix wraps their command
    (``ip netns exec NS``) and every ``127.0.0.1:5432``-style address of the
    PostgreSQL server in their environment and arguments becomes
    ``worker_netloc``, the forwarder that leads back to it.
    """

    workdir: Path
    postgres_url: str
    redis_url: str
    tag: str
    worker_prefix: tuple[str, ...] = ()
    worker_netloc: str | None = None

    def database_url(self, name: str) -> str:
        """A URL naming database ``bench_<name>_<tag>`` on the benchmark server."""
        parts = urlsplit(self.postgres_url)
        return urlunsplit(parts._replace(path=f"/bench_{name}_{self.tag}"))

    def for_worker(self, text: str) -> str:
        """``text`` with the PostgreSQL server's address as a worker process reaches it."""
        if self.worker_netloc is None:
            return text
        local = urlsplit(self.postgres_url).netloc.rsplit("@", 1)[-1]
        for before in ("@", "//"):
            text = text.replace(f"{before}{local}/", f"{before}{self.worker_netloc}/")
        return text


#: the settings a run may compare: every system at N jobs at once, each at its
#: own default, or each at the setting the harness takes as its best
SETTING_DEFAULT, SETTING_BEST = "default", "best"


def parse_setting(text: str) -> str:
    """``"default"``, ``"best"`` or a positive integer, as text; else ValueError."""
    if text in (SETTING_DEFAULT, SETTING_BEST):
        return text
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"a setting is 'default', 'best' or a positive integer, not {text!r}")
    return str(int(text))


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """How the servers here persist what they are told, read at the start of a run."""

    pg_synchronous_commit: str = "?"
    pg_fsync: str = "?"
    redis_appendonly: str = "?"
    redis_appendfsync: str = "?"
    redis_save: str = "?"

    def postgres_durable(self) -> str:
        """What a default COMMIT on this PostgreSQL server guarantees."""
        if self.pg_fsync == "off":
            return "NOT durable: this PostgreSQL server runs with fsync=off"
        if self.pg_synchronous_commit == "off":
            return "NOT durable: this server's synchronous_commit=off"
        return "durable"

    def redis(self) -> str:
        """What this Redis server keeps of an acknowledged write if it crashes."""
        if self.redis_appendonly == "yes":
            return f"Redis AOF appendfsync={self.redis_appendfsync}"
        if self.redis_save.strip():
            return f"Redis in memory, RDB snapshots only (save '{self.redis_save}')"
        return "Redis in memory only (no AOF, no RDB)"


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
    #: jobs one worker process takes on at once when nobody says (the system's default)
    default_concurrency: ClassVar[int] = 1
    #: the harness's tuned setting for the ``best`` table, and where that comes from
    best_concurrency: ClassVar[int] = 1
    best_reason: ClassVar[str] = ""

    def __init__(self, ctx: Context, setting: str = SETTING_DEFAULT) -> None:
        self.ctx = ctx
        self.setting = setting

    @property
    def concurrency(self) -> int:
        """Jobs one worker process takes on at once under this run's setting."""
        if self.setting == SETTING_DEFAULT:
            return self.default_concurrency
        if self.setting == SETTING_BEST:
            return self.best_concurrency
        return int(self.setting)

    @property
    def key(self) -> str:
        """Unique name of this system under this setting (and variant) in the results."""
        return f"{self.name}@{self.setting}"

    @property
    def display(self) -> str:
        """Label with the knobs, for a table row."""
        return f"{self.label}, {self.knobs()}"

    def knobs(self) -> str:
        """The settings this run gave the worker, briefly (``batch 10``)."""
        return f"concurrency {self.concurrency}"

    @property
    def worker_config(self) -> str:
        """How the worker is configured, printed with the results."""
        return self.knobs()

    def durability(self, facts: ServerFacts) -> str:
        """How this system's acknowledgements (job taken, job done) reach storage."""
        return "?"

    @classmethod
    def missing(cls) -> str | None:
        """Why the system cannot run here, or None."""
        absent = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        return f"not installed: {', '.join(absent)}" if absent else None

    def env(self) -> dict[str, str]:
        """Variables that configure the module in the harness and in the worker."""
        return {"BENCH_CONCURRENCY": str(self.concurrency)}

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

    #: True when ``enqueue_one`` blocks the event loop (a synchronous client):
    #: concurrent producers then run it in threads instead of asyncio tasks
    blocking_enqueue: ClassVar[bool] = False

    def enqueue_blocking(self, enqueued_at: float) -> None:
        """``enqueue_one`` for a synchronous client, callable from any thread."""
        raise NotImplementedError

    async def enqueue_concurrent(self, enqueued_at: float) -> None:
        """``enqueue_one`` as called by one of many producers at once."""
        await self.enqueue_one(enqueued_at)

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


def env_concurrency() -> int:
    """In a worker process: the concurrency the harness chose (``System.env``)."""
    return int(env_path("BENCH_CONCURRENCY"))


def env_path(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run this through benchmarks/run.py")
    return value
