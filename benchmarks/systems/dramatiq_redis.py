"""Dramatiq on Redis: ``dramatiq MODULE --processes 1 --threads 8`` (default threads)."""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks.systems.base import System, env_path, flush_redis

THREADS = 8

_actor: Any = None


def build() -> Any:
    """Set the Redis broker and declare the no-op actor, once per process."""
    global _actor
    if _actor is None:
        import dramatiq
        from dramatiq.brokers.redis import RedisBroker

        from benchmarks.recorder import record

        dramatiq.set_broker(RedisBroker(url=env_path("BENCH_REDIS_URL")))

        @dramatiq.actor(max_retries=0)
        def noop(t: float) -> None:
            record(t)

        _actor = noop
    return _actor


if os.environ.get("BENCH_REDIS_URL"):  # the dramatiq CLI imports this module
    build()


class DramatiqRedis(System):
    name = "dramatiq_redis"
    label = "Dramatiq (Redis)"
    backend = "redis"
    requires = ("dramatiq", "redis")
    distributions = ("dramatiq",)
    worker_config = f"dramatiq CLI, 1 process, {THREADS} threads"

    def env(self) -> dict[str, str]:
        return {"BENCH_REDIS_URL": self.ctx.redis_url}

    async def reset(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def destroy(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def enqueue_one(self, enqueued_at: float) -> None:
        build().send(enqueued_at)

    def worker_argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dramatiq",
            __name__,
            "--processes",
            "1",
            "--threads",
            str(THREADS),
        ]


SYSTEM = DramatiqRedis
