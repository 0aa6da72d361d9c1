"""Waiting for jobs to finish: woken by this process's events, else by one shared poll.

A job run by a worker in the same process wakes its waiters at once through job
events. A job run elsewhere is noticed by polling the store; all waiters of an
event loop share one poller that reads every due job in one query, so many
waiters cost one query per poll rather than one each. A wait always ends: when
its job finishes, at its deadline, when the caller's ``abandon`` future is done
(an HTTP client that disconnected) or when the process is stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from uno.jobs.errors import JobNotFound, WaitAbandoned, WaitTimeout
from uno.jobs.events import EventHub, EventKind, JobEvent
from uno.jobs.jobs import FINISHED, Job
from uno.jobs.store import Store

log = logging.getLogger("uno.jobs")

#: The first poll of the store after a wait starts; each later one doubles it.
FIRST_POLL = 0.005
#: The longest interval between two polls for the same job.
MAX_POLL = 0.25
#: Waiters due within this much of a poll are read in the same query.
POLL_WINDOW = 0.05
#: Most job ids read in one query.
POLL_BATCH = 500

STOPPING = "the process is stopping"


@dataclass(eq=False, slots=True)
class _Waiter:
    """One caller waiting for one job, on the event loop it waits in."""

    job_id: str
    loop: asyncio.AbstractEventLoop
    woken: asyncio.Future[Job | None]
    due: float
    interval: float = FIRST_POLL

    def wake(self, job: Job | None = None) -> None:
        if not self.woken.done():
            self.woken.set_result(job)


@dataclass(eq=False, slots=True)
class _Poller:
    """The task polling the store for every waiter of one event loop."""

    task: asyncio.Task[None] | None = None
    nudge: asyncio.Future[None] | None = None
    wakes_at: float = float("inf")
    waiters: set[_Waiter] = field(default_factory=set)


class JobWaiters:
    """Every wait of one JobSystem, and how they are woken and ended."""

    def __init__(self, store: Callable[[], Store], events: EventHub) -> None:
        self._store = store
        self._events = events
        self._by_job: dict[str, set[_Waiter]] = {}
        self._pollers: dict[asyncio.AbstractEventLoop, _Poller] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._stopping = False

    @property
    def count(self) -> int:
        """Waits in progress."""
        return sum(len(p.waiters) for p in list(self._pollers.values()))

    def stop(self) -> None:
        """End every wait, and refuse new ones, with ``WaitAbandoned``.

        Safe to call from a signal handler or another thread: it sets a flag and
        asks each waiting loop to wake its waiters.
        """
        self._stopping = True
        for loop in list(self._pollers):
            # A closed loop has nothing waiting on it any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_all, loop)

    def resume(self) -> None:
        """Accept waits again (the system was opened after a stop)."""
        self._stopping = False

    async def wait(
        self, job_id: str, timeout: float, abandon: asyncio.Future[Any] | None = None
    ) -> Job:
        """The job once finished; ``WaitTimeout`` after ``timeout`` seconds."""
        if self._stopping:
            raise WaitAbandoned(job_id, STOPPING)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = _Waiter(job_id, loop, loop.create_future(), loop.time() + FIRST_POLL)
        self._add(waiter)
        try:
            job = await self._store().get_job(job_id)
            while True:
                if job is None:
                    raise JobNotFound(f"Job not found: {job_id}")
                if job.status in FINISHED:
                    return job
                if self._stopping:
                    raise WaitAbandoned(job_id, STOPPING)
                if abandon is not None and abandon.done():
                    raise WaitAbandoned(job_id, "the caller left")
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise WaitTimeout(job_id, timeout)
                ends: set[asyncio.Future[Any]] = {waiter.woken}
                if abandon is not None:
                    ends.add(abandon)
                await asyncio.wait(ends, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if not waiter.woken.done():
                    continue
                polled = waiter.woken.result()
                waiter.woken = loop.create_future()
                job = polled or await self._store().get_job(job_id)
        finally:
            self._remove(waiter)

    # -- bookkeeping ----------------------------------------------------------
    def _add(self, waiter: _Waiter) -> None:
        self._by_job.setdefault(waiter.job_id, set()).add(waiter)
        if self._unsubscribe is None:
            # Subscribed only while someone waits, so a worker with no waiter
            # and no other subscriber builds no events at all.
            self._unsubscribe = self._events.subscribe(self._on_event)
        poller = self._pollers.get(waiter.loop)
        if poller is None:
            poller = self._pollers[waiter.loop] = _Poller()
        poller.waiters.add(waiter)
        if poller.task is None or poller.task.done():
            poller.task = waiter.loop.create_task(self._poll(poller), name="uno-jobs wait poller")
        elif waiter.due < poller.wakes_at and poller.nudge and not poller.nudge.done():
            poller.nudge.set_result(None)

    def _remove(self, waiter: _Waiter) -> None:
        waiters = self._by_job.get(waiter.job_id)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._by_job[waiter.job_id]
        poller = self._pollers.get(waiter.loop)
        if poller is not None:
            poller.waiters.discard(waiter)
            if not poller.waiters:
                del self._pollers[waiter.loop]
                if poller.task is not None:
                    poller.task.cancel()
        if not self._by_job and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _wake_all(self, loop: asyncio.AbstractEventLoop) -> None:
        poller = self._pollers.get(loop)
        for waiter in list(poller.waiters) if poller else ():
            waiter.wake()

    def _on_event(self, event: JobEvent) -> None:
        if event.kind in (EventKind.SUCCEEDED, EventKind.FAILED):
            for waiter in list(self._by_job.get(event.job_id, ())):
                if waiter.loop is _running_loop():
                    waiter.wake()
                else:
                    waiter.loop.call_soon_threadsafe(waiter.wake)

    # -- polling --------------------------------------------------------------
    async def _poll(self, poller: _Poller) -> None:
        """Read the due jobs of this loop's waiters in one query, until none waits."""
        loop = asyncio.get_running_loop()
        failing = False
        while poller.waiters:
            # Woken waiters are left out until they wait again; the sleep is capped so
            # that one waiting again is polled without having to nudge the poller.
            pending = [w for w in poller.waiters if not w.woken.done()]
            poller.wakes_at = min((w.due for w in pending), default=float("inf"))
            poller.nudge = loop.create_future()
            delay = min(poller.wakes_at - loop.time(), MAX_POLL)
            if delay > 0:
                await asyncio.wait({poller.nudge}, timeout=delay)
            now = loop.time()
            due = [w for w in poller.waiters if w.due <= now + POLL_WINDOW and not w.woken.done()]
            if not due:
                continue
            try:
                jobs: dict[str, Job] | None = await self._read({w.job_id for w in due})
            except Exception as exc:
                if not failing:  # once per outage: the poll retries every MAX_POLL
                    log.warning("Polling %d waited jobs failed: %s", len(due), exc)
                failing, jobs = True, None
            else:
                failing = False
            now = loop.time()
            for waiter in due:
                job = None if jobs is None else jobs.get(waiter.job_id)
                if jobs is not None and (job is None or job.status in FINISHED):
                    waiter.wake(job)  # a vanished job: the waiter reads it and says so
                else:
                    waiter.interval = min(waiter.interval * 2, MAX_POLL)
                    waiter.due = now + waiter.interval

    async def _read(self, job_ids: Sequence[str] | set[str]) -> dict[str, Job]:
        ids = list(job_ids)
        found: dict[str, Job] = {}
        for start in range(0, len(ids), POLL_BATCH):
            for job in await self._store().get_jobs(ids[start : start + POLL_BATCH]):
                found[job.id] = job
        return found


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
