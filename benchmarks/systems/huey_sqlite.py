"""Huey on SQLite: ``SqliteHuey``, the consumer with N worker threads (Huey's default is 1)."""

from __future__ import annotations

from typing import Any

from benchmarks.systems.base import ServerFacts, System, env_concurrency, env_path, remove_sqlite


def build() -> tuple[Any, Any]:
    """The Huey instance and its no-op task, as configured by the environment."""
    from huey import SqliteHuey

    from benchmarks.recorder import record

    huey = SqliteHuey("bench", filename=env_path("BENCH_HUEY_SQLITE_PATH"))

    @huey.task()
    def noop(t: float) -> None:
        record(t)

    return huey, noop


class HueySqlite(System):
    name = "huey_sqlite"
    label = "Huey (SQLite)"
    backend = "sqlite"
    requires = ("huey",)
    distributions = ("huey",)
    blocking_enqueue = True
    default_concurrency = 1
    best_concurrency = 4
    best_reason = "4 worker threads: the setting of the earlier published tables"

    def __init__(self, ctx: Any, setting: str = "default") -> None:
        super().__init__(ctx, setting)
        self.path = ctx.workdir / "huey.db"
        self._huey: Any = None
        self._noop: Any = None

    def knobs(self) -> str:
        return f"{self.concurrency} worker threads"

    @property
    def worker_config(self) -> str:
        return f"huey consumer, {self.concurrency} worker threads, default polling (0.1 s initial)"

    def durability(self, facts: ServerFacts) -> str:
        return "SQLite WAL, synchronous left at SQLite's default (FULL): commits reach the disk"

    def env(self) -> dict[str, str]:
        return {**super().env(), "BENCH_HUEY_SQLITE_PATH": str(self.path)}

    async def reset(self) -> None:
        await self.close()
        remove_sqlite(self.path)
        self._huey, self._noop = build()

    async def close(self) -> None:
        if self._huey is not None:
            self._huey.storage.close()
            self._huey = None

    async def destroy(self) -> None:
        remove_sqlite(self.path)

    async def enqueue_one(self, enqueued_at: float) -> None:
        self.enqueue_blocking(enqueued_at)

    def enqueue_blocking(self, enqueued_at: float) -> None:
        self._noop(enqueued_at)

    @staticmethod
    def run_worker() -> None:
        huey, _ = build()
        huey.create_consumer(workers=env_concurrency(), worker_type="thread").run()


SYSTEM = HueySqlite
