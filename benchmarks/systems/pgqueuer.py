"""PgQueuer on PostgreSQL: asyncpg, ``PgQueuer.run(batch_size=N)``.

The setting's concurrency is PgQueuer's ``batch_size`` (jobs dequeued at once;
its default is 10). ``max_concurrent_tasks`` stays at PgQueuer's default (no
cap), so the worker may hold more than one batch; that only favours PgQueuer.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from benchmarks.systems.base import (
    ServerFacts,
    System,
    drop_database,
    env_concurrency,
    env_path,
    recreate_database,
)

#: asyncpg connections the concurrent producers share (uno-jobs' pool has 10 too)
PRODUCER_POOL = 10


class PgQueuerSystem(System):
    name = "pgqueuer"
    label = "PgQueuer"
    backend = "postgres"
    requires = ("pgqueuer", "asyncpg")
    distributions = ("pgqueuer",)
    default_concurrency = 10
    best_concurrency = 50
    best_reason = "batch_size 50: the issue's tuned setting"

    def __init__(self, ctx: Any, setting: str = "default") -> None:
        super().__init__(ctx, setting)
        self._conn: Any = None
        self._queries: Any = None
        self._pool: Any = None
        self._pool_queries: Any = None

    def knobs(self) -> str:
        return f"batch {self.concurrency}"

    @property
    def worker_config(self) -> str:
        return (
            f"PgQueuer.run(batch_size={self.concurrency}), max_concurrent_tasks unset, "
            "LISTEN/NOTIFY, asyncpg, async"
        )

    def durability(self, facts: ServerFacts) -> str:
        return f"dequeue and completion: {facts.postgres_durable()}"

    @property
    def url(self) -> str:
        return self.ctx.database_url(self.name)

    def env(self) -> dict[str, str]:
        return {**super().env(), "BENCH_PGQUEUER_DSN": self.url}

    async def reset(self) -> None:
        import asyncpg
        from pgqueuer import AsyncpgDriver, Queries

        await self.close()
        recreate_database(self.ctx.postgres_url, self.url)
        self._conn = await asyncpg.connect(self.url)
        self._queries = Queries(AsyncpgDriver(self._conn))
        await self._queries.install()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = self._pool_queries = None

    async def destroy(self) -> None:
        drop_database(self.ctx.postgres_url, self.url)

    async def enqueue_one(self, enqueued_at: float) -> None:
        await self._queries.enqueue("noop", repr(enqueued_at).encode())

    async def enqueue_concurrent(self, enqueued_at: float) -> None:
        """One enqueue among many at once: one asyncpg connection runs one query at a
        time, so concurrent producers share a pool, as an application's would."""
        if self._pool_queries is None:
            import asyncpg
            from pgqueuer import Queries
            from pgqueuer.db import AsyncpgPoolDriver

            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=PRODUCER_POOL)
            self._pool_queries = Queries(AsyncpgPoolDriver(self._pool))
        await self._pool_queries.enqueue("noop", repr(enqueued_at).encode())

    async def enqueue_bulk(self, stamps: list[float]) -> bool:
        await self._queries.enqueue(
            ["noop"] * len(stamps), [repr(t).encode() for t in stamps], [0] * len(stamps)
        )
        return True

    @staticmethod
    def run_worker() -> None:
        asyncio.run(_consume())


async def _consume() -> None:
    import asyncpg
    from pgqueuer import Job, PgQueuer

    from benchmarks.recorder import record

    conn = await asyncpg.connect(env_path("BENCH_PGQUEUER_DSN"))
    pgq = PgQueuer.from_asyncpg_connection(conn)

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        record(float(job.payload or b"0"))

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, pgq.shutdown.set)
    await pgq.run(batch_size=env_concurrency())


SYSTEM = PgQueuerSystem
