"""Huey on Redis: ``RedisHuey`` (blocking pop), the consumer with N worker threads.

Huey's default is one worker.
"""

from __future__ import annotations

from typing import Any

from benchmarks.systems.base import ServerFacts, System, env_concurrency, env_path, flush_redis


def build() -> tuple[Any, Any]:
    from huey import RedisHuey

    from benchmarks.recorder import record

    huey = RedisHuey("bench", url=env_path("BENCH_REDIS_URL"))

    @huey.task()
    def noop(t: float) -> None:
        record(t)

    return huey, noop


class HueyRedis(System):
    name = "huey_redis"
    label = "Huey (Redis)"
    backend = "redis"
    requires = ("huey", "redis")
    distributions = ("huey", "redis")
    blocking_enqueue = True
    default_concurrency = 1
    best_concurrency = 4
    best_reason = "4 worker threads: the setting of the earlier published tables"

    def __init__(self, ctx: Any, setting: str = "default") -> None:
        super().__init__(ctx, setting)
        self._huey: Any = None
        self._noop: Any = None

    def knobs(self) -> str:
        return f"{self.concurrency} worker threads"

    @property
    def worker_config(self) -> str:
        return f"huey consumer, {self.concurrency} worker threads, blocking pop"

    def durability(self, facts: ServerFacts) -> str:
        return facts.redis()

    def env(self) -> dict[str, str]:
        return {**super().env(), "BENCH_REDIS_URL": self.ctx.redis_url}

    async def reset(self) -> None:
        flush_redis(self.ctx.redis_url)
        if self._huey is None:
            self._huey, self._noop = build()

    async def close(self) -> None:
        if self._huey is not None:
            self._huey.storage.close()
            self._huey = None

    async def destroy(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def enqueue_one(self, enqueued_at: float) -> None:
        self.enqueue_blocking(enqueued_at)

    def enqueue_blocking(self, enqueued_at: float) -> None:
        self._noop(enqueued_at)

    @staticmethod
    def run_worker() -> None:
        huey, _ = build()
        huey.create_consumer(workers=env_concurrency(), worker_type="thread").run()


SYSTEM = HueyRedis
