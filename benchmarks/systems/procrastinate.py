"""Procrastinate on PostgreSQL: psycopg connector, ``run_worker_async(concurrency=N)``, async task.

Procrastinate's default concurrency is 1.
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.systems.base import (
    ServerFacts,
    System,
    drop_database,
    env_concurrency,
    env_path,
    recreate_database,
)


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
    default_concurrency = 1
    best_concurrency = 50
    best_reason = "concurrency 50, as uno-jobs' tuned setting (async no-op task)"

    def __init__(self, ctx: Any, setting: str = "default") -> None:
        super().__init__(ctx, setting)
        self._app: Any = None
        self._noop: Any = None

    @property
    def url(self) -> str:
        return self.ctx.database_url(self.name)

    def env(self) -> dict[str, str]:
        return {**super().env(), "BENCH_PROCRASTINATE_DSN": self.url}

    @property
    def worker_config(self) -> str:
        return f"run_worker_async(concurrency={self.concurrency}), LISTEN/NOTIFY, async task"

    def durability(self, facts: ServerFacts) -> str:
        return f"fetch and finish: {facts.postgres_durable()}"

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
        await app.run_worker_async(concurrency=env_concurrency(), install_signal_handlers=True)


SYSTEM = ProcrastinateSystem
