"""Huey on SQLite: ``SqliteHuey``, the consumer with 4 worker threads."""

from __future__ import annotations

from typing import Any

from benchmarks.systems.base import System, env_path, remove_sqlite

WORKERS = 4


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
    worker_config = f"huey consumer, {WORKERS} worker threads, default polling (0.1 s initial)"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.path = ctx.workdir / "huey.db"
        self._huey: Any = None
        self._noop: Any = None

    def env(self) -> dict[str, str]:
        return {"BENCH_HUEY_SQLITE_PATH": str(self.path)}

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
        self._noop(enqueued_at)

    @staticmethod
    def run_worker() -> None:
        huey, _ = build()
        huey.create_consumer(workers=WORKERS, worker_type="thread").run()


SYSTEM = HueySqlite
