"""Dramatiq on Redis: ``dramatiq MODULE --processes 1 --threads N``.

``default`` is Dramatiq's own (a process per CPU, 8 threads each); ``best`` one
process with its default 8 threads (the earlier published tables).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks.systems.base import SETTING_DEFAULT, ServerFacts, System, env_path, flush_redis

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
    blocking_enqueue = True
    default_concurrency = THREADS
    best_concurrency = THREADS
    best_reason = "1 process, its default 8 threads: the earlier published tables"

    @property
    def processes(self) -> int:
        return (os.cpu_count() or 1) if self.setting == SETTING_DEFAULT else 1

    def knobs(self) -> str:
        return f"{self.processes} process(es) x {self.concurrency} threads"

    @property
    def worker_config(self) -> str:
        return f"dramatiq CLI, {self.knobs()}"

    def durability(self, facts: ServerFacts) -> str:
        return f"acked after the actor runs; {facts.redis()}"

    def env(self) -> dict[str, str]:
        return {**super().env(), "BENCH_REDIS_URL": self.ctx.redis_url}

    async def reset(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def destroy(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def enqueue_one(self, enqueued_at: float) -> None:
        self.enqueue_blocking(enqueued_at)

    def enqueue_blocking(self, enqueued_at: float) -> None:
        build().send(enqueued_at)

    def worker_argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dramatiq",
            __name__,
            "--processes",
            str(self.processes),
            "--threads",
            str(self.concurrency),
        ]


SYSTEM = DramatiqRedis
