"""The JobSystem: the one object users hold to define tasks and manage jobs.

It owns a task registry, a store and a clock; the worker, scheduler and API are
built around it and call nothing else. Every method is async; ``blocking`` gives
the same verbs to plain synchronous code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, overload

from uno.jobs.clock import Clock, SystemClock, as_utc
from uno.jobs.errors import (
    JobFailed,
    JobNotFound,
    QueueNotFound,
    ValidationError,
    WaitTimeout,
)
from uno.jobs.events import EventHub, EventKind, JobEvent
from uno.jobs.group_commit import MAX_GROUPED, GroupCommit
from uno.jobs.job_batch import JobBatch
from uno.jobs.jobs import (
    FINISHED,
    Job,
    Priority,
    Status,
    new_job_id,
    validate_json,
    validate_non_negative,
    validate_timeout,
)
from uno.jobs.private_files import prepare_sqlite_file
from uno.jobs.settings import Settings
from uno.jobs.store import JobFilter, JobStats, QueueInfo, Store, create_store
from uno.jobs.tasks import DEFAULT_QUEUE, DEFAULT_VERSION, Executor, Task, TaskRegistry

if TYPE_CHECKING:
    from uno.jobs.blocking import BlockingJobSystem
    from uno.jobs.scheduler.manager import ScheduleManager

#: How long enqueue-and-wait waits when neither the caller nor the job says.
DEFAULT_WAIT = 300.0


@dataclass(slots=True)
class JobRequest:
    """Everything needed to enqueue one job; unset fields come from the task."""

    task_name: str
    args: Sequence[Any] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue_name: str | None = None
    priority: Priority | str = Priority.NORMAL
    scheduled_at: datetime | None = None
    delay: float | None = None
    max_retries: int | None = None
    retry_delay: float | None = None
    timeout: float | None = None
    tags: Sequence[str] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    job_id: str | None = None


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
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._unsubscribe_waiters: Callable[[], None] | None = None
        self._schedules: ScheduleManager | None = None
        self._blocking: BlockingJobSystem | None = None
        self._group_commit = GroupCommit(self._insert_jobs)

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
                self._opened = True
        return self

    async def close(self) -> None:
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

        This runs once per enqueued job, so the common case (plain JSON values,
        task defaults) takes the short paths.
        """
        task = self.registry.get(request.task_name, request.version)
        now = now or self.clock.now()
        args = list(request.args)
        kwargs = dict(request.kwargs) if request.kwargs else {}
        metadata = dict(request.metadata) if request.metadata else {}
        validate_json(args, "args")
        if kwargs:
            validate_json(kwargs, "kwargs")
        if metadata:
            validate_json(metadata, "metadata")
        scheduled_at = now
        if request.scheduled_at is not None:
            if request.delay is not None:
                raise ValidationError("Give scheduled_at or delay, not both")
            scheduled_at = as_utc(request.scheduled_at)
        elif request.delay is not None:
            validate_non_negative(request.delay, "delay")
            scheduled_at = now + timedelta(seconds=request.delay)
        timeout = task.timeout
        if request.timeout is not None:
            validate_timeout(request.timeout)
            timeout = request.timeout
        max_retries = task.max_retries
        if request.max_retries is not None:
            max_retries = request.max_retries
            validate_non_negative(max_retries, "max_retries")
            if not isinstance(max_retries, int):
                raise ValidationError(f"max_retries must be a whole number, got {max_retries!r}")
        retry_delay = task.retry_delay
        if request.retry_delay is not None:
            validate_non_negative(request.retry_delay, "retry_delay")
            retry_delay = float(request.retry_delay)
        tags = list(request.tags) if request.tags else []
        if tags and not all(isinstance(t, str) for t in tags):
            raise ValidationError("tags must be strings")
        job_id = request.job_id
        if job_id is None:
            job_id = new_job_id()
        elif not job_id or not isinstance(job_id, str) or len(job_id) > 255:
            raise ValidationError("job_id must be a non-empty string of at most 255 characters")
        priority = request.priority
        if type(priority) is not Priority:
            priority = Priority.parse(priority)
        return Job(
            id=job_id,
            task_name=task.name,
            args=args,
            kwargs=kwargs,
            queue_name=request.queue_name or task.queue,
            priority=priority,
            status=Status.PENDING,
            scheduled_at=scheduled_at,
            created_at=now,
            max_retries=max_retries,
            retry_delay=float(retry_delay),
            tags=tags,
            metadata=metadata,
            timeout=None if timeout is None else float(timeout),
            version=task.version,
        )

    async def enqueue(
        self,
        task: str | Task,
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
        """
        request = self._request(task, args, kwargs, options)
        return (await self.enqueue_many([request], connection=connection))[0]

    async def enqueue_many(
        self, requests: Sequence[JobRequest], *, connection: Any = None
    ) -> list[Job]:
        """Store many jobs in one transaction: all of them, or none when one is bad.

        With ``connection`` (a psycopg ``AsyncConnection``) the jobs are written in
        the caller's transaction: they exist, and wake workers, only if it
        commits. No ENQUEUED events are published then, since it may roll back.
        """
        if connection is not None:
            insert_on = self._transactional("insert_jobs_on")
            batch = JobBatch(requests, partial(self.build_job, now=self.clock.now()))
            await insert_on(connection, batch)
            return batch.built()
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
        insert_on = self._transactional("insert_jobs_on_sync")
        now = self.clock.now()
        jobs = [self.build_job(r, now) for r in requests]
        insert_on(connection, jobs)
        return jobs

    def _transactional(self, verb: str) -> Callable[..., Any]:
        """The store's insert-on-your-connection verb; a clear error where none exists."""
        insert_on: Callable[..., Any] | None = getattr(self.store, verb, None)
        if insert_on is None:
            raise ValidationError(
                "Transactional enqueue (connection=...) needs the PostgreSQL store; "
                f"{type(self.store).__name__} has no connection to share"
            )
        return insert_on

    @staticmethod
    def _request(
        task: str | Task,
        args: Sequence[Any],
        kwargs: dict[str, Any] | None,
        options: dict[str, Any],
    ) -> JobRequest:
        if isinstance(task, Task):
            options.setdefault("version", task.version)
            task = task.name
        try:
            return JobRequest(task_name=task, args=args, kwargs=kwargs or {}, **options)
        except TypeError as exc:
            raise ValidationError(f"Bad enqueue option: {exc}") from None

    async def get(self, job_id: str) -> Job:
        await self.open()
        job = await self.store.get_job(job_id)
        if job is None:
            raise JobNotFound(f"Job not found: {job_id}")
        return job

    async def cancel(self, job_id: str, reason: str | None = None) -> Job:
        """Cancel a job that has not started; ``IllegalTransition`` otherwise."""
        await self.open()
        return await self.store.cancel_job(job_id, reason, self.clock.now())

    async def retry(self, job_id: str) -> Job:
        """Send a failed, timed-out or cancelled job back to pending."""
        await self.open()
        return await self.store.retry_job(job_id, self.clock.now())

    async def list_jobs(
        self, job_filter: JobFilter | None = None, **filters: Any
    ) -> tuple[list[Job], int]:
        """A page of jobs and the total count: pass a ``JobFilter`` or its fields."""
        await self.open()
        return await self.store.list_jobs(job_filter or JobFilter(**filters))

    async def stats(self) -> JobStats:
        await self.open()
        return await self.store.job_stats()

    # -- waiting for results --------------------------------------------------
    async def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Wait until the job is finished (completed, failed, cancelled, timeout).

        Wakes at once when the job runs in this process; otherwise polls the
        store with a growing interval. Raises ``WaitTimeout``.
        """
        await self.open()
        limit = DEFAULT_WAIT if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.setdefault(job_id, []).append(future)
        if self._unsubscribe_waiters is None:
            # Subscribed only while someone waits, so a worker with no waiter
            # and no other subscriber builds no events at all.
            self._unsubscribe_waiters = self.events.subscribe(self._on_event)
        poll = 0.005
        try:
            while True:
                job = await self.store.get_job(job_id)
                if job is None:
                    raise JobNotFound(f"Job not found: {job_id}")
                if job.status in FINISHED:
                    return job
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise WaitTimeout(job_id, limit)
                done, _ = await asyncio.wait({future}, timeout=min(poll, remaining))
                if done:
                    future = loop.create_future()
                    self._waiters.setdefault(job_id, []).append(future)
                poll = min(poll * 2, 0.25)
        finally:
            waiters = self._waiters.get(job_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(job_id, None)
            if not self._waiters and self._unsubscribe_waiters is not None:
                self._unsubscribe_waiters()
                self._unsubscribe_waiters = None

    def _on_event(self, event: JobEvent) -> None:
        if event.kind in (EventKind.SUCCEEDED, EventKind.FAILED):
            for future in self._waiters.pop(event.job_id, []):
                if not future.done():
                    future.set_result(None)

    async def run(
        self,
        task: str | Task,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        wait_timeout: float | None = None,
        **options: Any,
    ) -> Any:
        """Enqueue a job, wait for it and return its result.

        Raises ``JobFailed`` when it ends failed, timed out or cancelled, and
        ``WaitTimeout`` when it is not finished within ``wait_timeout`` (by
        default the job's timeout, else ``DEFAULT_WAIT``).
        """
        job = await self.enqueue(task, args, kwargs, **options)
        limit = wait_timeout if wait_timeout is not None else (job.timeout or DEFAULT_WAIT)
        done = await self.wait(job.id, limit)
        if done.status != Status.COMPLETED:
            raise JobFailed(done.id, done.status.value, done.error)
        return done.result

    # -- queues ---------------------------------------------------------------
    async def list_queues(self) -> list[QueueInfo]:
        """Every queue named by a task, a job or a pause, with its size."""
        await self.open()
        stored = {q.name: q for q in await self.store.list_queues()}
        names = set(stored) | self.registry.queues() | {DEFAULT_QUEUE}
        return [stored.get(n) or QueueInfo(name=n, size=0, is_paused=False) for n in sorted(names)]

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
