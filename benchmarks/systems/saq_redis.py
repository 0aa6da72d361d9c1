"""SAQ on Redis: ``Worker(queue, concurrency=N)`` (SAQ's default is 10), async task."""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.systems.base import ServerFacts, System, env_concurrency, env_path, flush_redis


async def noop(ctx: Any, *, t: float) -> None:
    from benchmarks.recorder import record

    record(t)


class SaqRedis(System):
    name = "saq_redis"
    label = "SAQ (Redis)"
    backend = "redis"
    requires = ("saq", "redis")
    distributions = ("saq",)
    default_concurrency = 10
    best_concurrency = 50
    best_reason = "concurrency 50, as uno-jobs' tuned setting (async no-op task)"

    def __init__(self, ctx: Any, setting: str = "default") -> None:
        super().__init__(ctx, setting)
        self._queue: Any = None

    def env(self) -> dict[str, str]:
        return {**super().env(), "BENCH_REDIS_URL": self.ctx.redis_url}

    @property
    def worker_config(self) -> str:
        return f"saq Worker(concurrency={self.concurrency}), async task"

    def durability(self, facts: ServerFacts) -> str:
        return facts.redis()

    async def reset(self) -> None:
        from saq import Queue

        await self.close()
        flush_redis(self.ctx.redis_url)
        self._queue = Queue.from_url(self.ctx.redis_url)
        await self._queue.connect()

    async def close(self) -> None:
        if self._queue is not None:
            await self._queue.disconnect()
            self._queue = None

    async def destroy(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def enqueue_one(self, enqueued_at: float) -> None:
        await self._queue.enqueue("noop", t=enqueued_at)

    @staticmethod
    def run_worker() -> None:
        asyncio.run(_consume())


async def _consume() -> None:
    from saq import Queue, Worker

    queue = Queue.from_url(env_path("BENCH_REDIS_URL"))
    worker = Worker(queue, functions=[("noop", noop)], concurrency=env_concurrency())
    await worker.start()


SYSTEM = SaqRedis
