"""The JobSystem's verbs for synchronous code.

A private event loop runs in a daemon thread with its own store connection, so
plain code (scripts, Django or Flask views) can enqueue and wait without async.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from uno.jobs.jobs import Job
from uno.jobs.queries import JobFilter, JobStats, QueueInfo

if TYPE_CHECKING:
    from uno.jobs.enqueue import JobRequest
    from uno.jobs.system import JobSystem
    from uno.jobs.tasks import Task, TaskRef

T = TypeVar("T")


class BlockingJobSystem:
    """Synchronous twin of a ``JobSystem``, sharing its tasks, settings and clock."""

    def __init__(self, system: JobSystem) -> None:
        from uno.jobs.system import JobSystem

        self._twin = JobSystem(
            settings=system.settings, clock=system.clock, registry=system.registry
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="uno-jobs-blocking"
        )
        self._thread.start()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self._twin.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def enqueue(
        self,
        task: str | Task | TaskRef,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Job:
        return self._call(self._twin.enqueue(task, args, kwargs, **options))

    def enqueue_by_name(
        self,
        task_name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        **options: Any,
    ) -> Job:
        return self._call(
            self._twin.enqueue_by_name(task_name, args, kwargs, queue=queue, **options)
        )

    def enqueue_many(self, requests: Sequence[JobRequest]) -> list[Job]:
        return self._call(self._twin.enqueue_many(requests))

    def get(self, job_id: str) -> Job:
        return self._call(self._twin.get(job_id))

    def cancel(self, job_id: str, reason: str | None = None) -> Job:
        return self._call(self._twin.cancel(job_id, reason))

    def retry(self, job_id: str) -> Job:
        return self._call(self._twin.retry(job_id))

    def list_jobs(
        self, job_filter: JobFilter | None = None, **filters: Any
    ) -> tuple[list[Job], int]:
        return self._call(self._twin.list_jobs(job_filter, **filters))

    def stats(self) -> JobStats:
        return self._call(self._twin.stats())

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        return self._call(self._twin.wait(job_id, timeout))

    def run(
        self,
        task: str | Task | TaskRef,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        wait_timeout: float | None = None,
        **options: Any,
    ) -> Any:
        return self._call(self._twin.run(task, args, kwargs, wait_timeout=wait_timeout, **options))

    def list_queues(self) -> list[QueueInfo]:
        return self._call(self._twin.list_queues())

    def pause_queue(self, name: str) -> None:
        self._call(self._twin.pause_queue(name))

    def resume_queue(self, name: str) -> None:
        self._call(self._twin.resume_queue(name))

    def clear_queue(self, name: str) -> int:
        return self._call(self._twin.clear_queue(name))
