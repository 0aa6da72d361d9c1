"""Celery on Redis, no result backend.

Settings: N runs ``--pool threads --concurrency N`` (N jobs at once in one
process); ``default`` is Celery's own (prefork, one child per CPU); ``best`` the
solo pool of the earlier published tables (one job at a time, no pool overhead).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks.systems.base import (
    SETTING_BEST,
    SETTING_DEFAULT,
    ServerFacts,
    System,
    env_path,
    flush_redis,
)

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
    blocking_enqueue = True
    default_concurrency = os.cpu_count() or 1
    best_concurrency = 1
    best_reason = "solo pool: the setting of the earlier published tables"

    @property
    def pool(self) -> str:
        if self.setting == SETTING_DEFAULT:
            return "prefork"
        return "solo" if self.setting == SETTING_BEST else "threads"

    def knobs(self) -> str:
        return f"{self.pool} pool, concurrency {self.concurrency}"

    @property
    def worker_config(self) -> str:
        return (
            f"celery worker --pool {self.pool} --concurrency {self.concurrency}, no result backend"
        )

    def durability(self, facts: ServerFacts) -> str:
        return f"acked on receipt, before the task runs (acks_late off); {facts.redis()}"

    def env(self) -> dict[str, str]:
        return {**super().env(), "BENCH_REDIS_URL": self.ctx.redis_url}

    async def reset(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def destroy(self) -> None:
        flush_redis(self.ctx.redis_url)

    async def enqueue_one(self, enqueued_at: float) -> None:
        self.enqueue_blocking(enqueued_at)

    def enqueue_blocking(self, enqueued_at: float) -> None:
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
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "WARNING",
        ]


SYSTEM = CeleryRedis
