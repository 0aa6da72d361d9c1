"""PgQueuer on PostgreSQL: asyncpg, ``PgQueuer.run()`` with its defaults (batch of 10)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from benchmarks.systems.base import System, drop_database, env_path, recreate_database


class PgQueuerSystem(System):
    name = "pgqueuer"
    label = "PgQueuer"
    backend = "postgres"
    requires = ("pgqueuer", "asyncpg")
    distributions = ("pgqueuer",)
    worker_config = "PgQueuer.run() defaults (dequeue batch 10, LISTEN/NOTIFY), asyncpg, async"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._conn: Any = None
        self._queries: Any = None

    @property
    def url(self) -> str:
        return self.ctx.database_url(self.name)

    def env(self) -> dict[str, str]:
        return {"BENCH_PGQUEUER_DSN": self.url}

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

    async def destroy(self) -> None:
        drop_database(self.ctx.postgres_url, self.url)

    async def enqueue_one(self, enqueued_at: float) -> None:
        await self._queries.enqueue("noop", repr(enqueued_at).encode())

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
    await pgq.run()


SYSTEM = PgQueuerSystem
