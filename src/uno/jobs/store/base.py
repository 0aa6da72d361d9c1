"""The Store protocol: persistence spoken in the domain's verbs.

One implementation per engine (``store/sqlite``, ``store/postgres``); every one
passes the same behavioural suite in ``tests/stores``. All times passed in are
timezone-aware UTC and come from the caller's clock, never from the database's,
so that tests can pin them.

Hot paths take batches: ``insert_jobs``, ``fetch_jobs``, ``start_jobs``,
``complete_jobs`` and ``fail_jobs`` each cost one statement (or one short
transaction) per call, whatever the number of jobs.

Transactions are a capability of the protocol: ``bound_to(connection)`` gives
the same verbs inside the caller's own transaction (River's ``UnwrapExecutor``),
where an engine has a connection to share.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from uno.jobs.attempts import Attempt, Progress
from uno.jobs.jobs import FAILURE_ENDS, Job, JobError, Status
from uno.jobs.queries import (
    JobFilter,
    JobGroup,
    MinuteCounts,
    QueueInfo,
    QueueWait,
    ScheduleFilter,
    StatsSnapshot,
    WorkerMinute,
)
from uno.jobs.schedules import Schedule, ScheduleStatus
from uno.jobs.workers import TaskRef, WorkerCounts, WorkerRecord

#: A subscriber to cancellations of running jobs: called with the job's id, or with
#: None when cancellations may have been missed (a LISTEN connection that broke), so
#: that the subscriber checks the jobs it holds.
CancelListener = Callable[[str | None], None]

#: Error type of the attempt a worker's silence ended (``rescue_jobs``).
WORKER_LOST = "WorkerLost"


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful attempt, reported by the worker holding the job."""

    job_id: str
    result: Any
    completed_at: datetime


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt, reported by the worker holding the job.

    With ``retry_at`` set the job becomes ``retrying``, due at that time, with
    ``retry_count`` one higher, no worker and no ``completed_at`` (it has not
    ended), whatever ``status`` says; otherwise it ends with ``status`` (one of
    ``FAILURE_ENDS``: failed, timeout or cancelled) at ``finished_at``. Any other
    ending is refused here, so no failure can move a job along an arrow the state
    machine lacks.
    """

    job_id: str
    error: JobError
    finished_at: datetime
    status: Status = Status.FAILED
    retry_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.retry_at is None and self.status not in FAILURE_ENDS:
            allowed = ", ".join(sorted(FAILURE_ENDS))
            raise ValueError(f"A failed attempt ends in {allowed}, not {self.status!r}")


#: Schedule fields ``update_schedule_fields`` may write: the definition, status and
#: ``next_run_at``. ``last_run_at`` belongs to the scheduler (``fire_schedule``,
#: ``advance_schedule``); id, ``created_at`` and ``revision`` to the store.
SCHEDULE_FIELDS = frozenset(
    {
        "name",
        "task_name",
        "status",
        "cron_expression",
        "interval",
        "timezone",
        "args",
        "kwargs",
        "queue_name",
        "priority",
        "tags",
        "metadata",
        "max_retries",
        "retry_delay",
        "timeout",
        "version",
        "next_run_at",
        "updated_at",
    }
)


def schedule_change_params(
    schedule: Schedule, fields: Collection[str], encoded: Mapping[str, Any]
) -> dict[str, Any]:
    """Parameters of an engine's ``update_schedule_fields`` statement: every writable
    field's encoded value, a ``set_<field>`` flag for those ``fields`` names, and the
    id and revision that guard the write. Refuses a field outside ``SCHEDULE_FIELDS``."""
    unknown = set(fields) - SCHEDULE_FIELDS
    if unknown:
        raise ValueError(f"Not writable schedule field(s): {', '.join(sorted(unknown))}")
    params: dict[str, Any] = {name: encoded[name] for name in SCHEDULE_FIELDS}
    params.update({f"set_{name}": name in fields for name in SCHEDULE_FIELDS})
    params.update(id=schedule.id, revision=schedule.revision)
    return params


#: How far back the per-minute history is counted again from the jobs themselves:
#: on every round of maintenance (which stores those minutes, so that pruning the
#: jobs loses none of them) and on every read (for the minutes not stored yet).
#: Longer than maintenance's period, so that no minute falls between two rounds.
HISTORY_RECOUNT = timedelta(hours=1)


def minute_start(when: datetime) -> datetime:
    """The start of ``when``'s minute, in UTC."""
    return when.astimezone(UTC).replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class PruneRequest:
    """One round of maintenance asked by ``runner`` (any id unique to it) at ``now``.

    Besides deleting what is older than ``before``, a round stores the per-minute
    counts of ``history_window`` (minutes before ``before`` are deleted too)."""

    runner: str
    before: datetime
    limit: int
    now: datetime
    lease_until: datetime

    def history_window(self) -> tuple[datetime, datetime]:
        """The complete minutes a round stores: the last ``HISTORY_RECOUNT`` up to,
        not including, the minute before ``now``'s (a completion recorded late by a
        batching worker still lands in an open minute)."""
        until = minute_start(self.now) - timedelta(minutes=1)
        return until - HISTORY_RECOUNT, until


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one round of maintenance deleted."""

    jobs: int
    occurrences: int
    #: Workers gone before ``before`` whose rows were deleted.
    workers: int = 0


@dataclass(frozen=True, slots=True)
class RescuedJob:
    job_id: str
    status: Status


class BoundStore(Protocol):
    """A store's verbs inside the open transaction of a connection the caller owns.

    What they write, and the wake-ups they send, exist only if the caller commits:
    a rollback leaves no row and wakes no worker. The caller owns the connection
    and its transaction; a bound store never commits, rolls back or retries, so
    a statement of its that fails leaves the transaction as any failed statement
    of the caller's would (aborted, on PostgreSQL).
    """

    async def insert_jobs(self, jobs: Sequence[Job]) -> None:
        """``Store.insert_jobs`` in the caller's transaction."""


class BlockingBoundStore(Protocol):
    """``BoundStore`` on a blocking connection, for callers with no event loop."""

    def insert_jobs(self, jobs: Sequence[Job]) -> None:
        """``Store.insert_jobs`` in the caller's transaction."""


@runtime_checkable
class Store(Protocol):
    """Persistence of jobs, queues, schedules and workers."""

    url: str
    #: The migrations the last ``open`` applied (empty: the schema was up to
    #: date), so that ``uno-jobs migrate`` reports them without migrating twice.
    applied_at_open: list[str]

    # -- lifecycle ------------------------------------------------------------
    async def open(self) -> None:
        """Connect, and apply migrations that are missing."""

    async def close(self) -> None: ...

    async def migrate(self) -> list[str]:
        """Apply missing migrations; return the names of those applied."""

    async def ping(self) -> bool:
        """True when the database answers."""

    async def wait_for_jobs(self, timeout: float) -> None:
        """Return soon after new work may be due (an insert, a retry, a resume,
        a job handed back), or after ``timeout`` seconds at the latest.

        PostgreSQL wakes on LISTEN/NOTIFY; SQLite on an in-process event and a
        short poll of its own change counter. Spurious wake-ups are allowed.
        """

    # -- transactions: the caller's connection --------------------------------
    def bound_to(self, connection: Any) -> BoundStore:
        """This store's verbs on ``connection``, an async connection of the caller's
        (a psycopg ``AsyncConnection`` for PostgreSQL) with its transaction open.

        Nothing is sent until a verb is called. Raises ``ValidationError`` when the
        engine has no connection to share (SQLite: every write goes through the
        store's own connection) or ``connection`` is not the kind it takes.
        """

    def bound_to_blocking(self, connection: Any) -> BlockingBoundStore:
        """``bound_to`` for a blocking connection (a psycopg ``Connection``)."""

    # -- jobs: writes ---------------------------------------------------------
    async def insert_jobs(self, jobs: Sequence[Job]) -> None:
        """Insert new jobs atomically: all or none.

        Raises ``DuplicateJob`` if any id exists already (nothing is written).
        ``created_at`` and ``scheduled_at`` are set by the caller.
        """

    async def fetch_jobs(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        limit: int,
        now: datetime,
        *,
        running: int = 0,
        tasks: Sequence[TaskRef] | None = None,
    ) -> list[Job]:
        """Claim up to ``limit`` due jobs for ``worker_id``, in one statement.

        With ``tasks`` only jobs the worker can run are claimed: their task is
        among ``tasks`` and, when the job names a version, at that version
        (``workers.serves``); the others wait for a worker that has them.

        The first ``running`` jobs in claim order become ``running`` with
        ``started_at = now`` (the worker starts them at once, so no second round
        trip is needed); the rest become ``reserved``. Due means pending or
        retrying with ``scheduled_at <= now``; jobs of paused queues are skipped;
        ``queues=None`` means every queue. Claim order: priority rank, then
        ``scheduled_at``, then insertion order; the jobs come back in that order.
        A job is claimed by one worker only, whatever the number of callers.
        """

    async def start_and_fetch_jobs(
        self,
        worker_id: str,
        start: Sequence[str],
        queues: Sequence[str] | None,
        limit: int,
        now: datetime,
        *,
        running: int = 0,
        tasks: Sequence[TaskRef] | None = None,
    ) -> tuple[list[str], list[Job]]:
        """``start_jobs(start)`` then ``fetch_jobs(...)``, in one round trip: the ids
        started and the jobs claimed.

        A worker's turn: the jobs it started from its claim-ahead buffer since the
        last turn, and the next claim. Each part keeps its own guarantees (the
        starts are written even when nothing is claimed)."""

    async def start_jobs(self, job_ids: Sequence[str], worker_id: str, now: datetime) -> list[str]:
        """reserved -> running with ``started_at = now``, for jobs this worker holds;
        the ids started, in no particular order.

        A job left out was cancelled, handed back or rescued since it was claimed:
        the worker must not run it (or stops it if it has begun)."""

    async def complete_jobs(self, worker_id: str, completions: Sequence[Completion]) -> list[str]:
        """running -> completed with result and ``completed_at``, and no ``error``
        (an earlier attempt's is cleared). Jobs not running or no longer held by
        ``worker_id`` (rescued meanwhile; a reserved job has not started) are left
        alone, and their ids returned, so that the worker can say its outcome was
        dropped."""

    async def fail_jobs(self, worker_id: str, failures: Sequence[Failure]) -> list[str]:
        """Record failed attempts (see ``Failure``); ``worker_id`` guards as above, and
        the ids of the jobs left alone are returned."""

    async def release_jobs(self, worker_id: str, job_ids: Sequence[str]) -> None:
        """Hand back held jobs (a polite stop): reserved or running -> pending,
        ``worker_id`` cleared, ``retry_count`` unchanged."""

    async def release_strays(self, worker_id: str, keep: Sequence[str]) -> list[str]:
        """Hand back every job held by ``worker_id`` (reserved or running) whose id is
        not in ``keep``, as ``release_jobs`` does; return the ids handed back.

        For a worker that is alive but may hold jobs it never started: a claim
        whose answer was lost with its connection leaves them held by a worker
        that keeps beating, so no rescue would ever take them back. The worker
        passes the ids it is running or still has to report; one statement."""

    async def cancel_job(self, job_id: str, reason: str | None, now: datetime) -> Job:
        """Cancel a job that has not ended (pending, reserved, running, retrying).

        The reason is kept as ``metadata["cancel_reason"]``; ``completed_at = now``;
        ``worker_id`` is cleared (nothing holds a cancelled job), so the outcome the
        worker reports later is dropped. A running job's attempt is recorded
        (outcome ``cancelled``). The cancellation of a running or reserved job (one a
        worker may hold in its claim-ahead buffer) is signalled to the subscribers
        of ``watch_cancels`` on every store of the database.
        Raises ``JobNotFound`` or ``IllegalTransition``. Returns the job as stored.
        """

    async def watch_cancels(self, listener: CancelListener) -> Callable[[], None]:
        """Call ``listener`` on the running loop soon after a running or reserved job
        of this database is cancelled (by any process, on any machine for PostgreSQL), through
        the wake-up channel workers already listen on; returns the unsubscribe call.

        PostgreSQL: a NOTIFY on the store's channel. SQLite: a datagram through the
        wake-up folder, and in-process subscribers directly. A listener may be told
        ``None`` (the channel broke and notices may be lost): it should then check
        the jobs it holds with ``get_jobs``.
        """

    async def retry_job(self, job_id: str, now: datetime) -> Job:
        """Send a failed, timed-out or cancelled job back to pending, due now, with
        ``retry_count`` reset to 0 and error, result, times, worker and
        ``metadata["cancel_reason"]`` cleared.
        Raises ``JobNotFound`` or ``IllegalTransition``."""

    async def retry_matching(self, job_filter: JobFilter, limit: int, now: datetime) -> int:
        """``retry_job`` for at most ``limit`` of the retryable jobs matching
        ``job_filter`` (its page and order ignored; oldest inserted first), in one
        statement; returns how many. Bulk retry calls it batch after batch."""

    async def cancel_matching(
        self, job_filter: JobFilter, reason: str | None, limit: int, now: datetime
    ) -> int:
        """``cancel_job`` for at most ``limit`` of the jobs matching ``job_filter``
        that no task runs yet (``CANCELLABLE_UNSTARTED``), as ``retry_matching``;
        returns how many. Running jobs are left to ``cancel_job``, which also
        records their attempt and tells their worker."""

    async def prune_jobs(self, finished_before: datetime) -> int:
        """Delete finished jobs (completed, failed, cancelled, timeout) whose
        ``completed_at`` is older than ``finished_before``; return how many.

        All of them in one statement, however many: the scheduler's maintenance
        uses the bounded, single-runner ``prune`` instead."""

    # -- jobs: reads ----------------------------------------------------------
    async def get_job(self, job_id: str) -> Job | None: ...

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        """The jobs that exist among ``job_ids``, in no particular order."""

    async def list_jobs(self, job_filter: JobFilter) -> tuple[list[Job], int]:
        """One page of jobs and the total matching the filter (checked when made)."""

    async def list_attempts(self, job_id: str) -> list[Attempt]:
        """The job's last ``max_attempts_kept`` ended attempts, oldest first.

        Written by the verbs that end an attempt: ``complete_jobs``, ``fail_jobs``,
        ``rescue_jobs`` (outcome ``lost``) and ``cancel_job`` of a running job."""

    async def report_progress(
        self,
        job_id: str,
        worker_id: str,
        fraction: float | None,
        message: str | None,
        now: datetime,
    ) -> bool:
        """Record how far a running job is (checked by ``attempts.check_progress``);
        False, writing nothing, unless ``worker_id`` runs it."""

    async def get_progress(self, job_id: str) -> Progress | None:
        """The progress the job last reported, if any."""

    async def job_groups(self) -> list[JobGroup]:
        """Every stored job counted, in one pass, per (status, queue, priority).

        Only the counts and the sums behind the averages: ``JobStats.from_groups``
        turns them into statistics, the same way for every store.
        """

    async def job_history(self, since: datetime, now: datetime) -> list[MinuteCounts]:
        """Per-minute counts from ``since`` to ``now``, oldest first, minutes without
        any event left out: the stored minutes (see ``prune``), merged
        (``MinuteCounts.merged``) with those of the last ``HISTORY_RECOUNT`` counted
        from the jobs. Every process reads the same figures, and a restart loses none."""

    async def queue_waits(self, now: datetime) -> list[QueueWait]:
        """Per queue with due waiting jobs, the oldest one's due time."""

    async def jobs_ahead(self, job_id: str, now: datetime, cap: int) -> int:
        """How many due waiting jobs of the same queue come before the job in claim
        order (see ``fetch_jobs``), counted up to ``cap``; 0 for a job that is not
        waiting or not due."""

    async def worker_minutes(self, since: datetime, until: datetime) -> list[WorkerMinute]:
        """The workers' counts per minute in [``since``, ``until``) as their heartbeats
        left them (see ``heartbeat``), by worker then minute, each worker's first
        preceded by its last minute before ``since`` (what its window starts from)."""

    async def save_stats_snapshot(self, snapshot: StatsSnapshot) -> None:
        """Keep ``snapshot`` as the last costly statistics (an older one never
        replaces a newer one)."""

    async def load_stats_snapshot(self) -> StatsSnapshot | None:
        """The statistics ``save_stats_snapshot`` kept last, if any."""

    # -- workers --------------------------------------------------------------
    async def register_worker(
        self,
        worker_id: str,
        hostname: str,
        pid: int,
        queues: Sequence[str] | None,
        now: datetime,
        *,
        tasks: Sequence[TaskRef] | None = None,
    ) -> None:
        """Record a starting worker: where it runs, what it takes from (``queues``,
        None: every queue) and the tasks it runs (``tasks``, None: any, as a worker
        that does not say). Its counts start at 0."""

    async def list_workers(self) -> list[WorkerRecord]:
        """Every worker row kept (gone ones until pruned), oldest first, with the
        ids of the jobs each runs."""

    async def get_worker(self, worker_id: str) -> WorkerRecord | None: ...

    async def waiting_tasks(self) -> list[tuple[str, str | None, int]]:
        """Waiting jobs (pending, retrying) counted per (task, version)."""

    async def heartbeat(
        self, worker_id: str, now: datetime, *, counts: WorkerCounts | None = None
    ) -> None:
        """Prove ``worker_id`` alive; one statement (one transaction on SQLite),
        whatever it holds.

        A worker that ``rescue_jobs`` forgot (it was silent too long) is
        registered again, or every job it fetched from then on would be
        taken for an orphan and rescued while it runs. ``counts`` are the
        worker's counts since it registered (None keeps the stored ones): the
        outcome statements do not count, the beat carries them, so no job pays
        for them. They are kept in the worker's row and in its row of the minute
        in ``worker_history`` (the per-worker charts).
        """

    async def unregister_worker(
        self, worker_id: str, *, counts: WorkerCounts | None = None
    ) -> None:
        """A stopping worker: kept, marked gone at its last heartbeat, until pruned;
        ``counts`` are its final counts (None keeps the stored ones)."""

    async def rescue_jobs(self, stale_before: datetime, now: datetime) -> list[RescuedJob]:
        """Take back jobs held by workers whose last heartbeat is older than
        ``stale_before`` (or that are not registered at all, or gone), and mark those
        workers gone (kept for the workers view until ``prune`` deletes them).

        A reserved job goes back to pending as ``release_jobs`` hands it back (no
        worker, no ``started_at``). A running one counts as a failed attempt (error
        type ``WorkerLost``): retrying while retries remain (no worker, no
        ``completed_at``), else failed (``completed_at = now``). Either way it keeps
        its ``scheduled_at``, and so its place in the queue (it is due at once).
        Safe to run from many workers at once.

        The caller decides when a silence means death: a worker calls this only
        after its own heartbeats have succeeded throughout the window (see
        ``worker/heartbeat.py``).
        """

    # -- queues ---------------------------------------------------------------
    async def pause_queue(self, name: str) -> None: ...

    async def resume_queue(self, name: str) -> None: ...

    async def clear_queue(self, name: str) -> int:
        """Delete the queue's waiting jobs (pending, retrying); return how many."""

    async def list_queues(self) -> list[QueueInfo]:
        """Every queue a stored job has ever named, or a pause has, sorted by name.

        A queue stays known after its jobs are cleared or pruned."""

    async def paused_queues(self) -> set[str]: ...

    # -- schedules ------------------------------------------------------------
    async def insert_schedule(self, schedule: Schedule) -> None: ...

    async def get_schedule(self, schedule_id: str) -> Schedule | None: ...

    async def list_schedules(self, schedule_filter: ScheduleFilter) -> tuple[list[Schedule], int]:
        """One page of schedules ordered by ``created_at`` then id, and the total."""

    async def update_schedule_fields(
        self, schedule: Schedule, fields: Collection[str]
    ) -> Schedule | None:
        """Write the named ``fields`` of ``schedule`` (any of ``SCHEDULE_FIELDS``) and
        nothing else, if the stored schedule is still at ``schedule.revision``.

        The revision goes up by one. Returns the schedule as stored after the
        write, or None when its revision moved meanwhile (nothing written: read it
        again and redo the change). Raises ``ScheduleNotFound`` when there is none.
        """

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        next_run_at: datetime | None,
        now: datetime,
        *,
        revision: int | None = None,
    ) -> Schedule | None:
        """Pause or resume: write ``status``, ``next_run_at`` and ``updated_at = now``.

        Guarded by ``revision`` as ``update_schedule_fields`` is (None: whatever
        the revision); the revision goes up by one. Returns the schedule as
        stored, or None when the revision moved. Raises ``ScheduleNotFound``.
        """

    async def advance_schedule(
        self,
        schedule_id: str,
        occurrence: datetime,
        next_run_at: datetime | None,
        *,
        revision: int | None = None,
    ) -> bool:
        """Move a stale ``next_run_at`` past an ``occurrence`` that is done.

        Writes ``next_run_at`` and ``last_run_at`` (never moved back) only, and
        only while the schedule is active, at ``revision`` (None: any), and its
        ``next_run_at`` is not after ``occurrence``; so whatever a change wrote
        meanwhile survives. True when it wrote.
        """

    async def delete_schedule(self, schedule_id: str) -> bool:
        """True when a schedule was deleted."""

    async def due_schedules(self, now: datetime, limit: int) -> list[Schedule]:
        """Active schedules with ``next_run_at <= now``, earliest first."""

    async def fire_schedule(
        self,
        schedule_id: str,
        occurrence: datetime,
        job: Job,
        next_run_at: datetime | None,
        *,
        revision: int | None = None,
    ) -> bool:
        """Turn one occurrence of a schedule into ``job``, exactly once.

        In one transaction: record ``(schedule_id, occurrence)`` under a unique
        constraint; if it was recorded before, or the schedule is gone, paused or
        no longer at ``revision`` (the one ``job`` was built from; None: any),
        write nothing and return False. Otherwise insert the job, set
        ``last_run_at = occurrence`` and ``next_run_at``, and return True.
        """

    # -- maintenance ----------------------------------------------------------
    async def prune(self, request: PruneRequest) -> Pruned | None:
        """One bounded round of maintenance, run by one runner at a time.

        Stores the per-minute counts of ``request.history_window()`` (each kind
        never lowered), then deletes at most ``request.limit`` finished jobs whose
        ``completed_at`` is before ``request.before``, at most as many
        ``schedule_occurrences`` older than it (never a schedule's latest), stored
        minutes older than it, and the workers gone before it, in one short
        transaction.
        The runner holds the maintenance lease until ``request.lease_until``,
        renewed each round and given up by a round that leaves nothing to do.
        Returns None, having deleted nothing, while another runner holds it.
        """
