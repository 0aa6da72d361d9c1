"""Celery on Redis: no result backend, one worker process (solo pool)."""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks.systems.base import System, env_path, flush_redis

POOL = "solo"
CONCURRENCY = 1

_app: Any = None
_task: Any = None


def build() -> tuple[Any, Any]:
    """The Celery app on Redis and its no-op task, once per process."""
    global _app, _task
    if _app is None:
        from celery import Celery

        from benchmarks.recorder import record

        _app = Celery("bench", broker=env_path("BENCH_REDIS_URL"))
        _app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)

        @_app.task(name="noop")
        def noop(t: float) -> None:
            record(t)

        _task = noop
    return _app, _task


if os.environ.get("BENCH_REDIS_URL"):  # the celery CLI imports this module
    app = build()[0]


class CeleryRedis(System):
    name = "celery_redis"
    label = "Celery (Redis)"
    backend = "redis"
    requires = ("celery", "redis")
    distributions = ("celery", "kombu")
    worker_config = f"celery worker --pool {POOL} --concurrency {CONCURRENCY}, no result backend"

    def env(self) -> dict[str, str]:
        return {"BENCH_REDIS_URL": self.ctx.redis_url}

    async def reset(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def destroy(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def enqueue_one(self, enqueued_at: float) -> None:
        build()[1].delay(enqueued_at)

    def worker_argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            __name__,
            "worker",
            "--pool",
            POOL,
            "--concurrency",
            str(CONCURRENCY),
            "--loglevel",
            "WARNING",
        ]


SYSTEM = CeleryRedis
