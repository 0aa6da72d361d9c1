"""What the operator console asks that the Jobs API reference does not: the
overview (throughput per minute, per queue and per worker, queue depths and
waits, failure rate) and the answer to "why is this job waiting?".

Both are computed here, from what the store knows, so that every console (and
every API process) shows the same figures, and the page holds no logic of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from uno.jobs.errors import ValidationError
from uno.jobs.job_control import live_workers
from uno.jobs.jobs import WAITING, Job, Status
from uno.jobs.limits import check_count
from uno.jobs.queries import JobStats, MinuteCounts, WorkerMinute
from uno.jobs.system import JobSystem
from uno.jobs.workers import WorkerRecord, serves

#: Jobs ahead of a waiting one are counted up to this many ("10000 or more").
MAX_JOBS_AHEAD = 10_000
#: The overview charts the workers that did the most in its window, at most this many.
MAX_CHARTED_WORKERS = 20
#: How long the overview waits for the job statistics before answering without them
#: (``stats`` null: a large table's first count after a start, still running); the
#: console shows "counting" and has them at its next refresh.
STATS_WAIT_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Throughput:
    """Jobs created, completed and failed (or timed out) over some span."""

    enqueued: int = 0
    completed: int = 0
    failed: int = 0

    def __add__(self, other: Throughput | MinuteCounts) -> Throughput:
        return Throughput(
            self.enqueued + other.enqueued,
            self.completed + other.completed,
            self.failed + other.failed,
        )

    @property
    def failure_rate(self) -> float | None:
        """Of the jobs that ended completed, failed or timed out, the share that failed."""
        ended = self.completed + self.failed
        return self.failed / ended if ended else None


@dataclass(frozen=True, slots=True)
class QueueOverview:
    """A queue as the overview shows it; ``oldest_due_at`` is when its longest-waiting
    due job became due (None: nothing due is waiting); ``throughput`` covers the
    overview's window."""

    name: str
    size: int
    is_paused: bool
    oldest_due_at: datetime | None
    throughput: Throughput


@dataclass(frozen=True, slots=True)
class WorkerOverview:
    """What one worker did per minute of the window (attempts completed and failed,
    minutes without any left out) and in all of it."""

    worker_id: str
    history: list[tuple[datetime, Throughput]]
    throughput: Throughput


@dataclass(frozen=True, slots=True)
class Overview:
    """The overview at ``now``: ``history``, every queue's counts added up per minute
    since ``since`` (minutes without events left out, oldest first), the queues, the
    job statistics (``None`` while a first count runs: ``STATS_WAIT_SECONDS``), the
    whole window's ``throughput``, and the workers that did the most in it (at most
    ``MAX_CHARTED_WORKERS``)."""

    now: datetime
    since: datetime
    history: list[tuple[datetime, Throughput]]
    queues: list[QueueOverview]
    stats: JobStats | None
    throughput: Throughput
    workers: list[WorkerOverview] = field(default_factory=list)


async def overview(system: JobSystem, minutes: int) -> Overview:
    """The overview of the last ``minutes`` minutes (1 to ``max_history_minutes``).

    The statistics are counted while the rest is read, and waited for at most
    ``STATS_WAIT_SECONDS``, so that a first count of a large table does not hold
    the page."""
    check_count(minutes, "minutes", system.settings.limits.max_history_minutes)
    if minutes < 1:
        raise ValidationError(f"minutes must be 1 or more, got {minutes}")
    await system.open()
    now = system.clock.now()
    since = now - timedelta(minutes=minutes)
    stats, activity = await asyncio.gather(
        system.stats_within(STATS_WAIT_SECONDS), _activity(system, since, now)
    )
    return replace(activity, stats=stats)


async def _activity(system: JobSystem, since: datetime, now: datetime) -> Overview:
    """The overview without its statistics: history, queues and workers."""
    per_minute: dict[datetime, Throughput] = {}
    per_queue: dict[str, Throughput] = {}
    for counts in await system.store.job_history(since, now):
        per_minute[counts.minute] = per_minute.get(counts.minute, Throughput()) + counts
        per_queue[counts.queue_name] = per_queue.get(counts.queue_name, Throughput()) + counts
    waits = {w.queue_name: w.oldest_due_at for w in await system.store.queue_waits(now)}
    queues = [
        QueueOverview(
            q.name, q.size, q.is_paused, waits.get(q.name), per_queue.get(q.name, Throughput())
        )
        for q in await system.list_queues()
    ]
    return Overview(
        now=now,
        since=since,
        history=sorted(per_minute.items()),
        queues=queues,
        stats=None,
        throughput=sum(per_queue.values(), Throughput()),
        workers=worker_overviews(await system.store.worker_minutes(since, now), since),
    )


def worker_overviews(rows: Sequence[WorkerMinute], since: datetime) -> list[WorkerOverview]:
    """Each worker's work per minute from ``since``: the difference between the
    counts of its minute and of its previous one (``Store.worker_minutes``), the
    busiest first. Counts that went down (the worker registered again) start from 0."""
    by_worker: dict[str, list[WorkerMinute]] = {}
    for row in rows:
        by_worker.setdefault(row.worker_id, []).append(row)
    found = []
    for worker_id, minutes in by_worker.items():
        history = _minute_differences(sorted(minutes, key=lambda m: m.minute), since)
        total = sum((t for _, t in history), Throughput())
        if history:
            found.append(WorkerOverview(worker_id, history, total))
    found.sort(key=lambda w: (-(w.throughput.completed + w.throughput.failed), w.worker_id))
    return found[:MAX_CHARTED_WORKERS]


def _minute_differences(
    minutes: list[WorkerMinute], since: datetime
) -> list[tuple[datetime, Throughput]]:
    history = []
    processed = failed = 0
    for row in minutes:
        if row.processed < processed or row.failed < failed:
            processed = failed = 0
        done, lost = row.processed - processed, row.failed - failed
        processed, failed = row.processed, row.failed
        if row.minute >= since and done:
            history.append((row.minute, Throughput(0, max(done - lost, 0), lost)))
    return history


@dataclass(frozen=True, slots=True)
class WaitReason:
    """One reason a job is not running yet.

    ``code`` is one of ``not_waiting`` (the job is not waiting at all),
    ``queue_paused``, ``no_worker`` (no live worker takes jobs from its queue),
    ``no_task_worker`` (live workers take its queue, but none has its task at the
    version it names), ``scheduled`` (due at ``until``), ``retry_backoff`` (its
    next attempt is due at ``until``), ``jobs_ahead`` (``count`` due jobs of its
    queue come first in claim order) or ``next_in_line`` (due, nothing ahead: the
    next free worker slot of its queue takes it).
    """

    code: str
    message: str
    until: datetime | None = None
    count: int | None = None


async def wait_reasons(system: JobSystem, job_id: str) -> tuple[Job, list[WaitReason]]:
    """Why ``job_id`` is waiting, as far as the store knows; ``JobNotFound`` if none."""
    job = await system.get(job_id)
    if job.status not in WAITING:
        return job, [WaitReason("not_waiting", _not_waiting(job))]
    now = system.clock.now()
    reasons: list[WaitReason] = []
    if job.queue_name in await system.store.paused_queues():
        reasons.append(
            WaitReason("queue_paused", f"Queue {job.queue_name!r} is paused: resume it to run jobs")
        )
    reasons += _worker_reasons(job, await live_workers(system), system.settings.rescue_after)
    due = job.scheduled_at
    if due is not None and due > now:
        if job.status is Status.RETRYING:
            text = f"Attempt {job.retry_count + 1} waits for its retry backoff until {due}"
            reasons.append(WaitReason("retry_backoff", text, until=due))
        else:
            reasons.append(WaitReason("scheduled", f"Scheduled for {due}", until=due))
        return job, reasons
    ahead = await system.store.jobs_ahead(job.id, now, MAX_JOBS_AHEAD)
    if ahead:
        more = " or more" if ahead >= MAX_JOBS_AHEAD else ""
        text = f"{ahead}{more} due jobs of queue {job.queue_name!r} come first (priority, then age)"
        reasons.append(WaitReason("jobs_ahead", text, count=ahead))
    elif not reasons:
        text = "Due with nothing ahead: the next free worker slot of its queue takes it"
        reasons.append(WaitReason("next_in_line", text, count=0))
    return job, reasons


def _worker_reasons(job: Job, live: list[WorkerRecord], rescue_after: float) -> list[WaitReason]:
    """No live worker could claim the job: none takes its queue, or those that do
    lack its task (at the version the job names). The rule of the claim
    statements (``workers.serves``), over the workers that are not gone."""
    of_queue = [w for w in live if w.queues is None or job.queue_name in w.queues]
    if not of_queue:
        text = (
            f"No live worker takes jobs from queue {job.queue_name!r} (none that does "
            f"has sent a heartbeat in the last {rescue_after:g} s)"
        )
        return [WaitReason("no_worker", text)]
    if any(serves(w.tasks, job.task_name, job.version) for w in of_queue):
        return []
    task = f"task {job.task_name!r}" + (f" (version {job.version!r})" if job.version else "")
    elsewhere = sum(1 for w in live if serves(w.tasks, job.task_name, job.version))
    text = f"No live worker has {task}"
    if elsewhere:
        text += f" in queue {job.queue_name!r} ({elsewhere} take other queues only)"
    else:
        other = "other tasks or versions" if job.version else "other tasks"
        text += f": the {len(of_queue)} live worker(s) of queue {job.queue_name!r} run {other}"
    return [WaitReason("no_task_worker", text, count=len(of_queue))]


def _not_waiting(job: Job) -> str:
    if job.status in (Status.RESERVED, Status.RUNNING):
        return f"Not waiting: {job.status.value} on worker {job.worker_id or '(unknown)'}"
    return f"Not waiting: the job is {job.status.value}"
