"""Huey on Redis: ``RedisHuey`` (blocking pop), the consumer with 4 worker threads."""

from __future__ import annotations

from typing import Any

from benchmarks.systems.base import System, env_path, flush_redis

WORKERS = 4


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
    worker_config = f"huey consumer, {WORKERS} worker threads, blocking pop"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._huey: Any = None
        self._noop: Any = None

    def env(self) -> dict[str, str]:
        return {"BENCH_REDIS_URL": self.ctx.redis_url}

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
        self._noop(enqueued_at)

    @staticmethod
    def run_worker() -> None:
        huey, _ = build()
        huey.create_consumer(workers=WORKERS, worker_type="thread").run()


SYSTEM = HueyRedis
