"""The JobSystem: the one object users hold to define tasks and manage jobs.

It owns a task registry, a store and a clock; the worker, scheduler and API are
built around it and call nothing else. Every method is async; ``blocking`` gives
the same verbs to plain synchronous code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, overload

from uno.jobs.clock import Clock, SystemClock
from uno.jobs.enqueue import JobRequest, validated
from uno.jobs.errors import (
    JobFailed,
    JobNotFound,
    QueueNotFound,
    QueuePaused,
    TaskNotFound,
    ValidationError,
)
from uno.jobs.events import EventHub, EventKind, JobEvent
from uno.jobs.group_commit import MAX_GROUPED, GroupCommit
from uno.jobs.job_batch import JobBatch
from uno.jobs.jobs import Job, Status
from uno.jobs.limits import check_count, check_text, text_fault
from uno.jobs.private_files import prepare_sqlite_file
from uno.jobs.queries import JobFilter, JobStats, QueueInfo, StatsSnapshot
from uno.jobs.settings import Settings
from uno.jobs.store import Store, create_store
from uno.jobs.store.stats import STALE_FOR, SharedStats
from uno.jobs.tasks import DEFAULT_QUEUE, DEFAULT_VERSION, Executor, Task, TaskRef, TaskRegistry
from uno.jobs.waiting import JobWaiters

if TYPE_CHECKING:
    from uno.jobs.blocking import BlockingJobSystem
    from uno.jobs.scheduler.manager import ScheduleManager

#: How long enqueue-and-wait waits when neither the caller nor the job says.
DEFAULT_WAIT = 300.0


def _known_id(job_id: str) -> None:
    """``JobNotFound`` for an id no job can have (the stores could not even look it up)."""
    if not isinstance(job_id, str) or text_fault(job_id):
        raise JobNotFound(f"Job not found: {job_id!r}")


class JobSystem:
    """Tasks, jobs, queues and schedules over one store.

    ``JobSystem()`` uses the settings from the environment (the embedded SQLite
    file by default); pass ``database_url`` or a ready ``store`` to choose.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        store: Store | None = None,
        settings: Settings | None = None,
        clock: Clock | None = None,
        registry: TaskRegistry | None = None,
    ) -> None:
        self.settings = (settings or Settings.from_env()).with_(database_url=database_url)
        self.registry = registry or TaskRegistry()
        self.clock: Clock = clock or SystemClock()
        self.events = EventHub()
        self._store = store
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._waiters = JobWaiters(lambda: self.store, self.events)
        self._schedules: ScheduleManager | None = None
        self._blocking: BlockingJobSystem | None = None
        self._group_commit = GroupCommit(self._insert_jobs)
        self._stats = SharedStats(
            self._count_jobs, stale_for=STALE_FOR, load=self._kept_stats, save=self._keep_stats
        )

    # -- lifecycle ------------------------------------------------------------
    @property
    def store(self) -> Store:
        if self._store is None:
            url = self.settings.resolved_database_url
            if url.startswith("sqlite:"):
                prepare_sqlite_file(self.settings)
            self._store = create_store(url, settings=self.settings)
        return self._store

    async def open(self) -> JobSystem:
        """Connect to the store (migrating it) once; later calls do nothing."""
        if self._opened:
            return self
        async with self._open_lock:
            if not self._opened:
                await self.store.open()
                self._waiters.resume()
                self._opened = True
        return self

    async def close(self) -> None:
        await self._stats.stop()
        if self._opened:
            await self.store.close()
            self._opened = False
        if self._blocking is not None:
            self._blocking.close()
            self._blocking = None

    async def __aenter__(self) -> JobSystem:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def blocking(self) -> BlockingJobSystem:
        """The same verbs for synchronous code: ``jobs.blocking.enqueue(...)``."""
        if self._blocking is None:
            from uno.jobs.blocking import BlockingJobSystem

            self._blocking = BlockingJobSystem(self)
        return self._blocking

    @property
    def schedules(self) -> ScheduleManager:
        """Create, change and delete recurring schedules."""
        if self._schedules is None:
            from uno.jobs.scheduler.manager import ScheduleManager

            self._schedules = ScheduleManager(self)
        return self._schedules

    # -- tasks ----------------------------------------------------------------
    @overload
    def task(self, func: Callable[..., Any], /) -> Task: ...

    @overload
    def task(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        version: str = DEFAULT_VERSION,
        description: str | None = None,
        queue: str = DEFAULT_QUEUE,
        timeout: float | None = None,
        max_retries: int = 3,
        retry_delay: float = 60.0,
        backoff: bool = False,
        jitter: float = 0.0,
        executor: Executor = "thread",
    ) -> Callable[[Callable[..., Any]], Task]: ...

    def task(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        version: str = DEFAULT_VERSION,
        description: str | None = None,
        queue: str = DEFAULT_QUEUE,
        timeout: float | None = None,
        max_retries: int = 3,
        retry_delay: float = 60.0,
        backoff: bool = False,
        jitter: float = 0.0,
        executor: Executor = "thread",
    ) -> Task | Callable[[Callable[..., Any]], Task]:
        """Register a function as a task: ``@jobs.task`` or ``@jobs.task(queue=...)``.

        The name defaults to the function's name and the description to the
        first line of its docstring.
        """

        def register(fn: Callable[..., Any]) -> Task:
            doc = (fn.__doc__ or "").strip().splitlines()
            task = Task(
                name=name or fn.__name__,
                func=fn,
                version=version,
                description=description if description is not None else (doc[0] if doc else None),
                queue=queue,
                timeout=timeout,
                max_retries=max_retries,
                retry_delay=retry_delay,
                backoff=backoff,
                jitter=jitter,
                executor=executor,
            )
            return self.registry.register(task)

        return register(func) if func is not None else register

    def include(self, other: JobSystem | TaskRegistry) -> None:
        """Register every task of another job system or registry here too."""
        registry = other.registry if isinstance(other, JobSystem) else other
        for task in registry.all_versions():
            self.registry.register(task)

    # -- jobs -----------------------------------------------------------------
    def build_job(self, request: JobRequest, now: datetime | None = None) -> Job:
        """Validate a request and fill its defaults from the task; write nothing.

        Every value obeys ``settings.limits`` (see ``uno.jobs.enqueue``), so
        whatever is built can be stored, listed and settled on every store.
        """
        return validated(request, self.registry, self.settings.limits, now or self.clock.now())

    async def enqueue(
        self,
        task: str | Task | TaskRef,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        connection: Any = None,
        **options: Any,
    ) -> Job:
        """Store one job for ``task`` and return it.

        ``options`` are the fields of ``JobRequest``: queue_name, priority,
        scheduled_at or delay, max_retries, retry_delay, timeout, tags, metadata,
        version, job_id. ``connection`` (a psycopg ``AsyncConnection``, PostgreSQL
        only) writes the job in that connection's open transaction instead.
        A ``TaskRef`` enqueues by name: see ``enqueue_by_name``.
        """
        request = self._request(task, args, kwargs, options)
        return (await self.enqueue_many([request], connection=connection))[0]

    async def enqueue_by_name(
        self,
        task_name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        connection: Any = None,
        **options: Any,
    ) -> Job:
        """Store a job for a task this process does not import, by name.

        A web process that only enqueues need not import the worker's code: the
        job goes to ``queue`` (``default`` when left out) with the defaults of a
        ``TaskRef`` unless ``options`` say otherwise, and the worker that claims
        it checks that it has the task (a worker without it never runs the job).
        When this system does know the task, its registered defaults and checks
        apply, and ``queue`` still wins when given.
        """
        ref = TaskRef(task_name, queue=queue or DEFAULT_QUEUE)
        if queue is not None:
            options.setdefault("queue_name", queue)
        return await self.enqueue(ref, args, kwargs, connection=connection, **options)

    async def enqueue_many(
        self, requests: Sequence[JobRequest], *, connection: Any = None
    ) -> list[Job]:
        """Store many jobs in one transaction: all of them, or none when one is bad.

        With ``connection`` (a psycopg ``AsyncConnection``) the jobs are written in
        the caller's transaction: they exist, and wake workers, only if it
        commits. No ENQUEUED events are published then, since it may roll back.
        """
        if connection is not None:
            bound = self.store.bound_to(connection)
            built = self._built(requests)
            await bound.insert_jobs(built)
            return built
        if not self._opened:
            await self.open()
        now = self.clock.now()
        jobs: list[Job]
        if len(requests) > MAX_GROUPED:
            # A batch already: built while the store streams it in.
            batch = JobBatch(requests, partial(self.build_job, now=now))
            await self.store.insert_jobs(batch)
            jobs = batch.built()
        else:
            jobs = [self.build_job(r, now) for r in requests]
            await self._group_commit.insert(jobs)
        if self.events.active:
            for job in jobs:
                self.events.publish(
                    JobEvent(EventKind.ENQUEUED, job.id, job.task_name, job.queue_name, job.status)
                )
        return jobs

    def _insert_jobs(self, jobs: Sequence[Job]) -> Awaitable[None]:
        return self.store.insert_jobs(jobs)

    def enqueue_on(
        self,
        connection: Any,
        task: str | Task,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Job:
        """``enqueue`` in the open transaction of a blocking psycopg ``Connection``.

        For synchronous applications (Django, Flask, scripts): no event loop is
        needed, and the job exists only if the caller's transaction commits.
        """
        request = self._request(task, args, kwargs, options)
        return self.enqueue_many_on(connection, [request])[0]

    def enqueue_many_on(self, connection: Any, requests: Sequence[JobRequest]) -> list[Job]:
        """``enqueue_many`` in the open transaction of a blocking psycopg ``Connection``."""
        bound = self.store.bound_to_blocking(connection)
        jobs = self._built(requests)
        bound.insert_jobs(jobs)
        return jobs

    def _built(self, requests: Sequence[JobRequest]) -> list[Job]:
        """Every job of a transactional enqueue, built before its first statement.

        A request that fails validation then raises before anything reaches the
        caller's connection, whose transaction stays usable; a bulk insert fed
        while it streams (``JobBatch``) would abort that transaction halfway.
        """
        now = self.clock.now()
        return [self.build_job(request, now) for request in requests]

    @staticmethod
    def _request(
        task: str | Task | TaskRef,
        args: Sequence[Any],
        kwargs: dict[str, Any] | None,
        options: dict[str, Any],
    ) -> JobRequest:
        if isinstance(task, Task):
            options.setdefault("version", task.version)
            task = task.name
        elif isinstance(task, TaskRef):
            options.setdefault("version", task.version)
            options["task_ref"] = task
            task = task.name
        try:
            return JobRequest(task_name=task, args=args, kwargs=kwargs or {}, **options)
        except TypeError as exc:
            raise ValidationError(f"Bad enqueue option: {exc}") from None

    async def get(self, job_id: str) -> Job:
        _known_id(job_id)
        await self.open()
        job = await self.store.get_job(job_id)
        if job is None:
            raise JobNotFound(f"Job not found: {job_id}")
        return job

    async def cancel(self, job_id: str, reason: str | None = None) -> Job:
        """Cancel a job that has not started; ``IllegalTransition`` otherwise.

        The ``reason`` is kept on the job, so it obeys the free-text rules.
        """
        if reason is not None:
            check_text(reason, "reason", self.settings.limits.max_text_chars, allow_empty=True)
        _known_id(job_id)
        await self.open()
        return await self.store.cancel_job(job_id, reason, self.clock.now())

    async def retry(self, job_id: str) -> Job:
        """Send a failed, timed-out or cancelled job back to pending."""
        _known_id(job_id)
        await self.open()
        return await self.store.retry_job(job_id, self.clock.now())

    async def list_jobs(
        self, job_filter: JobFilter | None = None, **filters: Any
    ) -> tuple[list[Job], int]:
        """A page of jobs and the total count: pass a ``JobFilter`` or its fields."""
        await self.open()
        return await self.store.list_jobs(job_filter or JobFilter(**filters))

    async def stats(self) -> JobStats:
        """Get Job Statistics; callers at the same time share one count (``SharedStats``)."""
        await self.open()
        return await self._stats.get()

    async def stats_within(self, seconds: float) -> JobStats | None:
        """``stats``, or ``None`` when they are not counted within ``seconds`` (the
        first count of a large table after a start): the count goes on, and a
        later call answers from it. For pages that must answer quickly."""
        await self.open()
        return await self._stats.within(seconds)

    async def _count_jobs(self) -> JobStats:
        return JobStats.from_groups(await self.store.job_groups())

    async def _kept_stats(self) -> tuple[JobStats, float, float] | None:
        kept = await self.store.load_stats_snapshot()
        if kept is None:
            return None
        age = (self.clock.now() - kept.computed_at).total_seconds()
        return JobStats.from_json(kept.stats), age, kept.took

    async def _keep_stats(self, stats: JobStats, took: float) -> None:
        snapshot = StatsSnapshot(self.clock.now(), took, stats.to_json())
        await self.store.save_stats_snapshot(snapshot)

    # -- waiting for results --------------------------------------------------
    async def wait(
        self,
        job_id: str,
        timeout: float | None = None,
        *,
        abandon: asyncio.Future[Any] | None = None,
    ) -> Job:
        """Wait until the job is finished (completed, failed, cancelled, timeout).

        Wakes at once when the job runs in this process; otherwise polls the
        store, one query for all waiters. Raises ``WaitTimeout`` after
        ``timeout`` seconds (``DEFAULT_WAIT`` when ``None``), and ``WaitAbandoned``
        as soon as ``abandon`` is done or ``stop_waiting`` is called; the job
        itself is left as it is either way.
        """
        await self.open()
        limit = DEFAULT_WAIT if timeout is None else timeout
        return await self._waiters.wait(job_id, limit, abandon)

    @property
    def waiting(self) -> int:
        """Waits in progress (``wait``, ``run`` and run-sync requests)."""
        return self._waiters.count

    def stop_waiting(self) -> None:
        """End every wait now with ``WaitAbandoned``, and refuse new ones until reopened.

        A server calls it when told to stop, so that no wait holds its shutdown.
        Safe to call from a signal handler or another thread.
        """
        self._waiters.stop()

    async def run(
        self,
        task: str | Task | TaskRef,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        wait_timeout: float | None = None,
        abandon: asyncio.Future[Any] | None = None,
        **options: Any,
    ) -> Any:
        """Enqueue a job, wait for it and return its result.

        Raises ``QueuePaused`` before enqueueing anything when the job's queue is
        paused, ``JobFailed`` when it ends failed, timed out or cancelled, and
        ``WaitTimeout`` when it is not finished within ``wait_timeout`` (when
        left out: the job's timeout, else ``DEFAULT_WAIT``, at most
        ``Limits.max_run_sync_wait``). ``abandon`` ends the wait as in ``wait``.
        """
        await self.open()
        queue = options.get("queue_name") or self._queue_of(task, options.get("version"))
        if queue is not None and queue in await self.store.paused_queues():
            raise QueuePaused(queue)
        job = await self.enqueue(task, args, kwargs, **options)
        if wait_timeout is None:
            wait_timeout = min(job.timeout or DEFAULT_WAIT, self.settings.limits.max_run_sync_wait)
        done = await self.wait(job.id, wait_timeout, abandon=abandon)
        if done.status != Status.COMPLETED:
            raise JobFailed(done.id, done.status.value, done.error)
        return done.result

    def _queue_of(self, task: str | Task | TaskRef, version: str | None) -> str | None:
        """The queue a job of ``task`` goes to by default; ``None`` if not registered."""
        if isinstance(task, Task | TaskRef):
            return task.queue
        try:
            return self.registry.get(task, version).queue
        except TaskNotFound:
            return None  # enqueue refuses it with the reason

    # -- queues ---------------------------------------------------------------
    async def list_queues(self) -> list[QueueInfo]:
        """Every queue named by a task, a job or a pause, with its size."""
        await self.open()
        stored = {q.name: q for q in await self.store.list_queues()}
        names = set(stored) | self.registry.queues() | {DEFAULT_QUEUE}
        return [stored.get(n) or QueueInfo(name=n, size=0, is_paused=False) for n in sorted(names)]

    async def queue_page(self, limit: int, offset: int = 0) -> tuple[list[QueueInfo], int]:
        """``limit`` queues from ``offset`` in name order, and how many there are."""
        limits = self.settings.limits
        check_count(limit, "limit", limits.max_page_size)
        check_count(offset, "offset", limits.max_offset)
        queues = await self.list_queues()
        return queues[offset : offset + limit], len(queues)

    async def _known_queue(self, name: str) -> None:
        if name in self.registry.queues() or name == DEFAULT_QUEUE:
            return
        if not any(q.name == name for q in await self.store.list_queues()):
            raise QueueNotFound(f"Queue not found: {name}")

    async def pause_queue(self, name: str) -> None:
        """Stop every worker everywhere from fetching the queue's jobs."""
        await self.open()
        await self._known_queue(name)
        await self.store.pause_queue(name)

    async def resume_queue(self, name: str) -> None:
        await self.open()
        await self._known_queue(name)
        await self.store.resume_queue(name)

    async def clear_queue(self, name: str) -> int:
        """Delete the queue's waiting jobs; return how many."""
        await self.open()
        await self._known_queue(name)
        return await self.store.clear_queue(name)
