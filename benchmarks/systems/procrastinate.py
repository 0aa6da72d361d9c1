"""Procrastinate on PostgreSQL: psycopg connector, worker with concurrency 10, async task."""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.systems.base import System, drop_database, env_path, recreate_database

CONCURRENCY = 10


def build() -> tuple[Any, Any]:
    from procrastinate import App, PsycopgConnector

    from benchmarks.recorder import record

    app = App(connector=PsycopgConnector(conninfo=env_path("BENCH_PROCRASTINATE_DSN")))

    @app.task(name="noop")
    async def noop(t: float) -> None:
        record(t)

    return app, noop


class ProcrastinateSystem(System):
    name = "procrastinate"
    label = "Procrastinate"
    backend = "postgres"
    requires = ("procrastinate",)
    distributions = ("procrastinate",)
    worker_config = f"run_worker_async(concurrency={CONCURRENCY}), LISTEN/NOTIFY, async task"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._app: Any = None
        self._noop: Any = None

    @property
    def url(self) -> str:
        return self.ctx.database_url(self.name)

    def env(self) -> dict[str, str]:
        return {"BENCH_PROCRASTINATE_DSN": self.url}

    async def reset(self) -> None:
        await self.close()
        recreate_database(self.ctx.postgres_url, self.url)
        self._app, self._noop = build()
        await self._app.open_async()
        await self._app.schema_manager.apply_schema_async()

    async def close(self) -> None:
        if self._app is not None:
            await self._app.close_async()
            self._app = None

    async def destroy(self) -> None:
        drop_database(self.ctx.postgres_url, self.url)

    async def enqueue_one(self, enqueued_at: float) -> None:
        await self._noop.defer_async(t=enqueued_at)

    async def enqueue_bulk(self, stamps: list[float]) -> bool:
        await self._noop.batch_defer_async(*({"t": t} for t in stamps))
        return True

    @staticmethod
    def run_worker() -> None:
        asyncio.run(_consume())


async def _consume() -> None:
    app, _ = build()
    async with app.open_async():
        await app.run_worker_async(concurrency=CONCURRENCY, install_signal_handlers=True)


SYSTEM = ProcrastinateSystem
