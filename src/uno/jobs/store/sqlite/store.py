"""SQLiteStore: the embedded default store, one file in WAL mode.

One writing connection, owned by one dedicated thread; every write runs its body
there. Writes take ``BEGIN IMMEDIATE`` so several processes on one machine can
share the file: SQLite lets one writer in at a time, which makes each fetch (one
``UPDATE ... RETURNING``) claim its jobs alone.

Reads (job lists, stats, single jobs, queues, schedules) run on a small pool of
reading connections of their own. In WAL mode readers and the writer never
wait for each other, so a slow list or a dashboard polling stats cannot hold up
an enqueue or a worker's claim. Each read starts a fresh transaction, so it sees
every write this process has committed before it.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from uno.jobs.attempts import Attempt, Outcome, Progress, failure_outcome, with_completion
from uno.jobs.errors import (
    DuplicateJob,
    IllegalTransition,
    JobNotFound,
    ScheduleNotFound,
    StoreUnavailable,
    ValidationError,
)
from uno.jobs.jobs import CANCELLABLE, HELD, RETRYABLE, Job, JobError, Status
from uno.jobs.limits import DEFAULT_LIMITS
from uno.jobs.private_files import check_sqlite_folder
from uno.jobs.queries import (
    JobFilter,
    JobGroup,
    MinuteCounts,
    QueueInfo,
    QueueWait,
    ScheduleFilter,
    StatsSnapshot,
    WorkerMinute,
    merge_minutes,
)
from uno.jobs.schedules import Schedule, ScheduleStatus
from uno.jobs.settings import sqlite_target
from uno.jobs.store.base import (
    HISTORY_RECOUNT,
    SCHEDULE_FIELDS,
    CancelListener,
    Completion,
    Failure,
    Pruned,
    PruneRequest,
    RescuedJob,
    schedule_change_params,
)
from uno.jobs.store.columns import CLAIM_ORDER, PRIORITY_BY_RANK, STATUS_BY_VALUE, list_order
from uno.jobs.store.served import EncodedTasks
from uno.jobs.store.sqlfile import load_queries
from uno.jobs.store.sqlite import codec, faults
from uno.jobs.store.sqlite.checkpoint import Checkpointer
from uno.jobs.store.sqlite.codec import dt, job_reader, read_jobs, row_to_schedule, ts
from uno.jobs.store.sqlite.migrations import PACKAGE
from uno.jobs.store.sqlite.migrations import migrate as migrate_connection
from uno.jobs.store.sqlite.wakeup import WakeChannel
from uno.jobs.store.statuses import STATUS_SET_SLOTS, STATUS_SLOTS
from uno.jobs.workers import (
    TaskRef,
    WorkerCounts,
    WorkerRecord,
    count_params,
    decode_tasks,
    encode_tasks,
)

T = TypeVar("T")


def _load() -> dict[str, str]:
    """The named queries with the statuses, the job column lists (generated from
    the column spec), the schedule column list and the schedule fields' assignments
    filled in."""
    assignments = ", ".join(
        f"{name} = CASE WHEN :set_{name} THEN :{name} ELSE {name} END"
        for name in sorted(SCHEDULE_FIELDS)
    )
    slots = {**STATUS_SET_SLOTS, **codec.QUERY_SLOTS, "schedule_assignments": assignments}
    raw = load_queries(PACKAGE, "queries.sql", slots, optional=STATUS_SLOTS)
    schedule_columns = raw["schedule_columns"]
    worker_fields = raw["worker_fields"]
    return {
        name: sql.replace("{schedule_columns}", schedule_columns).replace(
            "{worker_fields}", worker_fields
        )
        for name, sql in raw.items()
    }


Q = _load()
#: The schedule_columns fragment as names, in the order ``codec.schedule_params`` encodes.
_SCHEDULE_COLUMNS = tuple(name.strip() for name in Q["schedule_columns"].split(","))
_dumps = codec.dumps

#: Appended to an outcome statement (complete_jobs, fail_jobs) to learn which jobs it changed.
_RETURNING_IDS = "\nRETURNING jobs.id"


def _tasks_json(tasks: Sequence[TaskRef]) -> str:
    return json.dumps(encode_tasks(tasks))


class _SomeLeftAlone(Exception):
    """An outcome statement changed fewer jobs than it was given: roll it back."""


_LIST_FILTERS = (
    "queue_name",
    "statuses",
    "priority",
    "worker_id",
    "task_name",
    "tags",
    "created_after",
    "created_before",
)


def _filter_clauses(f: JobFilter) -> tuple[list[str], dict[str, Any]]:
    """The conditions of the filters ``f`` sets (to join with AND) and their parameters."""
    params: dict[str, Any] = {
        "queue_name": f.queue_name,
        "statuses": json.dumps([str(s) for s in f.statuses]) if f.statuses else None,
        "priority": None if f.priority is None else f.priority.rank,
        "worker_id": f.worker_id,
        "task_name": f.task_name,
        "tags": json.dumps(list(f.tags)) if f.tags else None,
        "created_after": ts(f.created_after),
        "created_before": ts(f.created_before),
    }
    clauses = [f"({Q[f'filter_{name}']})" for name in _LIST_FILTERS if params[name] is not None]
    return clauses, {k: v for k, v in params.items() if v is not None}


def _minutes(rows: Sequence[Sequence[Any]]) -> list[MinuteCounts]:
    return [
        MinuteCounts(dt(m) or datetime.min, q, int(e), int(c), int(f)) for m, q, e, c, f in rows
    ]


#: ``PRAGMA synchronous`` levels: NORMAL for every write, FULL for a worker's
#: bookkeeping under ``durable_acks``.
SYNC_NORMAL = "NORMAL"
SYNC_FULL = "FULL"


class SQLiteStore:
    """The Store on a SQLite file (see ``uno.jobs.store.base.Store``)."""

    #: A worker's claims, outcomes and heartbeats commit as every other write here
    #: (``synchronous=NORMAL``: they survive a crash of the process, not of the
    #: machine) unless told otherwise.
    DEFAULT_DURABLE_ACKS = False

    #: How often a waiter woken through the wake-up channel still checks the
    #: file's change counter, in case a wake-up was lost.
    fallback_poll_interval = 1.0

    #: Reading connections (and threads): one slow list leaves another to serve.
    readers = 2

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float = 30.0,
        poll_interval: float = 0.05,
        max_size: int | None = None,
        attempts_kept: int = DEFAULT_LIMITS.max_attempts_kept,
        durable_acks: bool | None = None,
    ):
        """``max_size``: bytes the database file may grow to (None: as the disk allows);
        a write past it raises ``StorageFull`` as a full disk does. ``attempts_kept``:
        the attempts of each job's history kept (``Limits.max_attempts_kept``).
        ``durable_acks``: whether a worker's claims, outcomes and heartbeats are
        flushed to disk at commit (``Settings.worker_durable_acks``, see ``_write``)."""
        self.url = url
        self.durable_acks = self.DEFAULT_DURABLE_ACKS if durable_acks is None else durable_acks
        #: The writing connection's ``PRAGMA synchronous`` now, so it is set only
        #: when a write needs another.
        self._synchronous = SYNC_NORMAL
        self.attempts_kept = max(1, attempts_kept)
        self.applied_at_open: list[str] = []
        self.path = sqlite_target(url)
        self.busy_timeout = busy_timeout
        self.poll_interval = poll_interval
        self.max_size = max_size
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        # Reads: their own threads, one connection each (None: a memory database,
        # which only the writing connection can see, so reads run there).
        self._read_executor: ThreadPoolExecutor | None = None
        self._read_local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_lock = threading.Lock()
        # Wake-ups: writes of this process bump _wakes and set _wake; the rest
        # of the machine is seen through PRAGMA data_version.
        self._wake: asyncio.Event | None = None
        self._wakes = 0
        self._wakes_seen = 0
        self._version_seen: int | None = None
        # Other processes are woken through the database's wake-up folder.
        self._channel: WakeChannel | None = None
        self._cancel_listeners: list[CancelListener] = []
        self._checkpointer: Checkpointer | None = None
        #: The claim's task filter, encoded once for the worker's task list.
        self._task_json = EncodedTasks(_tasks_json)
        if self.path != ":memory:" and not self.path.startswith("file:"):
            self._channel = WakeChannel(self.path)
            self._checkpointer = Checkpointer(self.path)

    # -- plumbing -------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the writing connection's thread."""
        if self._executor is None:
            raise StoreUnavailable(f"{self.url} is not open: call await store.open() first")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.DatabaseError as exc:
            if (fault := self._fault(exc)) is None:
                raise
            raise fault from exc

    async def _run_read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on a reading connection, beside the writes."""
        if self._read_executor is None:
            return await self._run(self._on_writer, fn, *args)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._read_executor, self._on_reader, fn, *args)
        except sqlite3.DatabaseError as exc:
            if (fault := self._fault(exc)) is None:
                raise
            raise fault from exc

    def _on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._conn is not None
        return fn(self._conn, *args)

    def _on_reader(self, fn: Callable[..., T], *args: Any) -> T:
        conn: sqlite3.Connection | None = getattr(self._read_local, "conn", None)
        if conn is None:
            conn = self._open_connection(check_same_thread=False)
            conn.execute("PRAGMA query_only = 1")
            with self._read_lock:
                self._read_conns.append(conn)
            self._read_local.conn = conn
        return fn(conn, *args)

    def _fault(self, exc: sqlite3.Error) -> Exception | None:
        """The domain error for a SQLite fault; None for an error of the SQL itself."""
        if faults.is_full(exc) and self._checkpointer is not None:
            self._checkpointer.nudge()  # the WAL may be holding the room writes need
        return faults.translate(exc, self.path)

    @contextmanager
    def _write(self, *, bookkeeping: bool = False) -> Iterator[sqlite3.Connection]:
        """A short write transaction, taken up front so it never has to upgrade.

        Every write commits with ``synchronous=NORMAL``: in WAL mode a commit
        survives a crash of the process at once, and reaches the disk at the next
        checkpoint, so a crash of the machine can undo the last ones. A worker's
        claims, outcomes and heartbeats (``bookkeeping``) commit with ``FULL``
        when ``durable_acks`` is set: the WAL is flushed at their commit (taking
        every earlier commit with it). This is the one place the choice is made.

        A failed COMMIT (a full disk) may leave the transaction open: it is rolled
        back, or every later write would fail to begin."""
        conn = self._conn
        assert conn is not None
        level = SYNC_FULL if bookkeeping and self.durable_acks else SYNC_NORMAL
        if level != self._synchronous:  # SQLite refuses the change inside a transaction
            conn.execute(f"PRAGMA synchronous = {level}")
            self._synchronous = level
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    @contextmanager
    def _read(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A read transaction, so several selects see one snapshot."""
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _notify(self) -> None:
        """Tell waiters, in this process and in the others, that new work may be due."""
        self._wake_waiters()
        if self._channel is not None:
            self._channel.notify()

    def _signal_cancel(self, job_id: str) -> None:
        """Tell the subscribers of ``watch_cancels``, here and in the other processes,
        that a running or reserved job was cancelled."""
        self._cancelled_here(job_id)
        if self._channel is not None:
            self._channel.notify_cancel(job_id)

    def _cancelled_here(self, job_id: str | None) -> None:
        for listener in list(self._cancel_listeners):
            listener(job_id)

    async def watch_cancels(self, listener: CancelListener) -> Callable[[], None]:
        self._cancel_listeners.append(listener)
        if self._channel is not None:
            self._channel.on_cancel(self._cancelled_here)
            self._channel.listen(self._wake_waiters)

        def stop() -> None:
            if listener in self._cancel_listeners:
                self._cancel_listeners.remove(listener)

        return stop

    def _wake_waiters(self) -> None:
        self._wakes += 1
        if self._wake is not None:
            self._wake.set()
            self._wake = None

    # -- lifecycle ------------------------------------------------------------
    def _open_connection(self, *, check_same_thread: bool = True) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            cached_statements=256,
            check_same_thread=check_same_thread,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return conn

    def _connect(self) -> None:
        if self.path != ":memory:" and not self.path.startswith("file:"):
            check_sqlite_folder(Path(self.path))  # a mistyped path creates no folders
        # While another process turns a new file to WAL, SQLite answers some reads of
        # its header "locked" at once, without calling the busy handler: retry those
        # within the busy timeout, as the handler would have.
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.005
        while True:
            try:
                self._conn = self._configured_connection()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _configured_connection(self) -> sqlite3.Connection:
        conn = self._open_connection()
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {SYNC_NORMAL}")
        self._synchronous = SYNC_NORMAL
        if self._checkpointer is not None:
            # Checkpoints are the background thread's job. A commit checkpoints
            # only when a long burst of writes (which never leaves the thread a
            # moment with the WAL all copied and unused) has grown the WAL past
            # its limit; the next write then starts the WAL over, cut back to
            # the limit.
            limit = self._checkpointer.wal_size_limit
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA wal_autocheckpoint = {limit // page_size}")
            conn.execute(f"PRAGMA journal_size_limit = {limit}")
        if self.max_size is not None:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {max(1, math.floor(self.max_size / page_size))}")
        conn.execute("PRAGMA foreign_keys = ON")

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uno-jobs-sqlite")
        try:
            await self._run(self._connect)
            self.applied_at_open = await self.migrate()
            if self._checkpointer is not None:
                self._checkpointer.start()
            if self._channel is not None:  # a file other connections can open
                self._read_executor = ThreadPoolExecutor(
                    max_workers=self.readers, thread_name_prefix="uno-jobs-sqlite-read"
                )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        executor = self._executor
        if executor is None:
            return
        read_executor, self._read_executor = self._read_executor, None

        def close_connections() -> None:
            if read_executor is not None:
                read_executor.shutdown(wait=True)
            with self._read_lock:
                for conn in self._read_conns:
                    conn.close()
                self._read_conns.clear()
            if self._checkpointer is not None:
                self._checkpointer.stop()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        if self._channel is not None:
            self._channel.close()
        try:
            await asyncio.get_running_loop().run_in_executor(executor, close_connections)
        finally:
            self._executor = None
            executor.shutdown(wait=False)

    async def migrate(self) -> list[str]:
        def run() -> list[str]:
            assert self._conn is not None
            return migrate_connection(self._conn)

        return await self._run(run)

    async def ping(self) -> bool:
        try:
            return await self._run(lambda: self._conn is not None and self._query_one("SELECT 1"))
        except (sqlite3.Error, StoreUnavailable):
            return False

    def _query_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        assert self._conn is not None
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    async def wait_for_jobs(self, timeout: float) -> None:
        if self._wakes != self._wakes_seen:
            self._wakes_seen = self._wakes
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._version_seen is None:
            self._version_seen = await self._run(self._query_one, Q["data_version"])
        poll = self.poll_interval
        if self._channel is not None and self._channel.listen(self._wake_waiters):
            # Writers wake us through the channel; the change counter is only a
            # safety net (a writer on another machine's mount, a lost datagram).
            poll = max(poll, self.fallback_poll_interval)
        if self._wake is None:
            self._wake = asyncio.Event()
        event = self._wake
        while (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(min(poll, remaining)):
                    await event.wait()
            except TimeoutError:
                version = await self._run(self._query_one, Q["data_version"])
                if version != self._version_seen:
                    self._version_seen = version
                    return
            else:
                self._wakes_seen = self._wakes
                return

    # -- transactions: the caller's connection --------------------------------
    def bound_to(self, connection: Any) -> NoReturn:
        """Refused: every write goes through the store's own connection and thread,
        which no transaction of the caller's can take part in."""
        raise ValidationError(
            "Transactional enqueue (connection=...) needs the PostgreSQL store; "
            f"{type(self).__name__} has no connection to share"
        )

    def bound_to_blocking(self, connection: Any) -> NoReturn:
        self.bound_to(connection)

    # -- jobs: writes ---------------------------------------------------------
    async def insert_jobs(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        params = [codec.job_params(job) for job in jobs]
        await self._run(self._insert_jobs, params, [job.id for job in jobs])
        self._notify()

    def _insert_jobs(self, params: list[tuple[Any, ...]], ids: list[str]) -> None:
        try:
            with self._write() as conn:
                conn.executemany(Q["insert_job"], params)
        except sqlite3.IntegrityError as exc:
            raise self._duplicate(ids, exc) from None

    def _duplicate(self, ids: list[str], exc: sqlite3.IntegrityError) -> Exception:
        """DuplicateJob naming the ids that clash, or the original error."""
        if "jobs.id" not in str(exc):
            return exc
        assert self._conn is not None
        stored = read_jobs(self._conn.execute(Q["get_jobs"], (json.dumps(ids),)))
        taken = sorted({job.id for job in stored} | {i for i in ids if ids.count(i) > 1})
        return DuplicateJob(f"A job with id {', '.join(taken) or '?'} exists already")

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
        _, claimed = await self.start_and_fetch_jobs(
            worker_id, (), queues, limit, now, running=running, tasks=tasks
        )
        return claimed

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
        if limit <= 0 or (queues is not None and not queues) or (tasks is not None and not tasks):
            return await self.start_jobs(start, worker_id, now), []
        self._wakes_seen = self._wakes
        params = {
            "worker_id": worker_id,
            "now": ts(now),
            "queues": None if queues is None else json.dumps(list(queues)),
            "tasks": None if tasks is None else self._task_json(tasks),
            "limit": limit,
            "running": running,
        }
        starting = {"now": params["now"], "ids": _dumps(list(start)), "worker_id": worker_id}
        return await self._run(self._fetch_jobs, params, starting if start else None)

    def _fetch_jobs(
        self, params: dict[str, Any], starting: dict[str, Any] | None
    ) -> tuple[list[str], list[Job]]:
        """The starts, then the claim, in one write transaction."""
        with self._write(bookkeeping=True) as conn:
            started = (
                []
                if starting is None
                else [row[0] for row in conn.execute(Q["start_jobs"], starting)]
            )
            claimed = conn.execute(Q["fetch_jobs"], params)
            rows = claimed.fetchall()
        self._version_seen = conn.execute(Q["data_version"]).fetchone()[0]
        if not rows:
            return started, []
        reader = job_reader(claimed)
        # RETURNING order is unspecified: restore claim order (rank, due time, seq).
        rows.sort(key=reader.key(*CLAIM_ORDER))
        return started, list(map(reader.job, rows))

    async def start_jobs(self, job_ids: Sequence[str], worker_id: str, now: datetime) -> list[str]:
        if not job_ids:
            return []
        params = {"now": ts(now), "ids": _dumps(list(job_ids)), "worker_id": worker_id}
        return await self._run(self._started_ids, params)

    def _started_ids(self, params: dict[str, Any]) -> list[str]:
        with self._write(bookkeeping=True) as conn:
            return [row[0] for row in conn.execute(Q["start_jobs"], params)]

    async def complete_jobs(self, worker_id: str, completions: Sequence[Completion]) -> list[str]:
        if not completions:
            return []
        rows = [
            (c.job_id, None if c.result is None else _dumps(c.result), ts(c.completed_at))
            for c in completions
        ]
        params = {"completions": _dumps(rows), "worker_id": worker_id}
        ids = [c.job_id for c in completions]
        written = await self._run(self._write_outcomes, "complete_jobs", params, ids)
        if written is None:
            return []
        return [c.job_id for c in completions if c.job_id not in written]

    async def fail_jobs(self, worker_id: str, failures: Sequence[Failure]) -> list[str]:
        if not failures:
            return []
        rows = [
            (
                f.job_id,
                Status.RETRYING.value if f.retry_at else Status(f.status).value,
                codec.dumps_error(f.error),
                ts(f.finished_at),
                ts(f.retry_at),
                failure_outcome(f.status, f.error.type).value,
            )
            for f in failures
        ]
        params = {"failures": _dumps(rows), "worker_id": worker_id}
        ids = [f.job_id for f in failures]
        written = await self._run(self._write_outcomes, "fail_jobs", params, ids)
        if any(f.retry_at for f in failures):
            self._notify()
        if written is None:
            return []
        return [f.job_id for f in failures if f.job_id not in written]

    async def release_jobs(self, worker_id: str, job_ids: Sequence[str]) -> None:
        if job_ids:
            params = {"ids": _dumps(list(job_ids)), "worker_id": worker_id}
            await self._run(self._execute, Q["release_jobs"], params)
            self._notify()

    async def release_strays(self, worker_id: str, keep: Sequence[str]) -> list[str]:
        params = {"worker_id": worker_id, "keep": _dumps(list(keep))}
        released = await self._run(self._released_ids, params)
        if released:
            self._notify()
        return released

    def _released_ids(self, params: dict[str, Any]) -> list[str]:
        with self._write() as conn:
            return [row[0] for row in conn.execute(Q["release_strays"], params)]

    def _write_outcomes(
        self, query: str, params: dict[str, Any], ids: list[str]
    ) -> set[str] | None:
        """Run an outcome statement and record the failed attempts it ends (trimming
        those jobs' histories), in one transaction; ``None`` when it changed every
        job of ``ids``, else the ids it changed.

        A success writes no attempt row (``attempts.with_completion``). Every job of
        a batch is nearly always still held, and a row count says so for free: the
        statement's own for successes, the attempts' for failures (their insert has
        the statement's conditions). Only when it falls short does the statement
        run with ``RETURNING`` (about a third dearer) to learn which.
        """
        if query == "complete_jobs":
            try:
                return self._write_completions(params, ids, returning=False)
            except _SomeLeftAlone:
                return self._write_completions(params, ids, returning=True)
        with self._write(bookkeeping=True) as conn:
            return self._write_failures(conn, query, params, ids)

    def _write_completions(
        self, params: dict[str, Any], ids: list[str], *, returning: bool
    ) -> set[str] | None:
        """``complete_jobs``; without ``returning``, raises
        ``_SomeLeftAlone`` (rolled back) when a job was no longer held."""
        with self._write(bookkeeping=True) as conn:
            if returning:
                return {row[0] for row in conn.execute(Q["complete_jobs"] + _RETURNING_IDS, params)}
            if conn.execute(Q["complete_jobs"], params).rowcount != len(ids):
                raise _SomeLeftAlone
            return None

    def _write_failures(
        self, conn: sqlite3.Connection, query: str, params: dict[str, Any], ids: list[str]
    ) -> set[str] | None:
        """``fail_jobs`` with its attempts recorded and the histories trimmed."""
        recorded = conn.execute(Q["record_failures"], params).rowcount
        written: set[str] | None = None
        if recorded == len(ids):
            conn.execute(Q[query], params)
        else:
            written = {row[0] for row in conn.execute(Q[query] + _RETURNING_IDS, params)}
        trim = {"ids": _dumps(ids), "kept": self.attempts_kept}
        conn.execute(Q["trim_attempts"], trim)
        return written

    def _execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """One write statement in its own transaction; the number of rows changed."""
        with self._write() as conn:
            return conn.execute(sql, params).rowcount

    def _bookkeeping(self, sql: str, params: dict[str, Any]) -> int:
        """``_execute`` for a worker's own bookkeeping (a heartbeat, progress)."""
        with self._write(bookkeeping=True) as conn:
            return conn.execute(sql, params).rowcount

    async def cancel_job(self, job_id: str, reason: str | None, now: datetime) -> Job:
        params = {"id": job_id, "now": ts(now), "reason": reason}
        was_held: list[bool] = []

        def record(conn: sqlite3.Connection, status: str) -> None:
            if status == Status.RUNNING.value:
                conn.execute(Q["record_cancelled_attempt"], params)
            if Status(status) in HELD:
                was_held.append(True)

        job = await self._run(
            self._transition, job_id, CANCELLABLE, Status.CANCELLED, "cancel", Q["cancel_job"],
            params, record,
        )  # fmt: skip
        if was_held:
            self._signal_cancel(job_id)
        return job

    async def retry_job(self, job_id: str, now: datetime) -> Job:
        job = await self._run(
            self._transition, job_id, RETRYABLE, Status.PENDING, "retry", Q["retry_job"],
            {"id": job_id, "now": ts(now)},
        )  # fmt: skip
        self._notify()
        return job

    def _transition(
        self,
        job_id: str,
        allowed: frozenset[Status],
        target: Status,
        action: str,
        sql: str,
        params: dict[str, Any],
        before: Callable[[sqlite3.Connection, str], None] | None = None,
    ) -> Job:
        """Check the current status and apply ``sql`` in one write transaction,
        ``before(conn, status)`` first when given."""
        with self._write() as conn:
            row = conn.execute(Q["job_status"], (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(f"Job {job_id} not found")
            if row[0] not in allowed:
                raise IllegalTransition(job_id, row[0], target.value, action)
            if before is not None:
                before(conn, row[0])
            changed = read_jobs(conn.execute(sql, params))
        return changed[0]

    async def retry_matching(self, job_filter: JobFilter, limit: int, now: datetime) -> int:
        changed = await self._matching("retry_matching", job_filter, limit, {"now": ts(now)})
        if changed:
            self._notify()
        return changed

    async def cancel_matching(
        self, job_filter: JobFilter, reason: str | None, limit: int, now: datetime
    ) -> int:
        params = {"now": ts(now), "reason": reason}
        return await self._matching("cancel_matching", job_filter, limit, params)

    async def _matching(
        self, query: str, job_filter: JobFilter, limit: int, extra: dict[str, Any]
    ) -> int:
        clauses, params = _filter_clauses(job_filter)
        and_where = "".join(f" AND {c}" for c in clauses)
        sql = Q[query].replace("{and_where}", and_where)
        return await self._run(self._execute, sql, {**params, **extra, "limit": max(limit, 0)})

    async def prune_jobs(self, finished_before: datetime) -> int:
        return await self._run(self._execute, Q["prune_jobs"], {"before": ts(finished_before)})

    async def prune(self, request: PruneRequest) -> Pruned | None:
        """A round in one ``BEGIN IMMEDIATE`` transaction, behind the lease row of
        ``maintenance_leases``: the writer lock keeps rounds apart, the lease makes
        another runner skip rather than follow with rounds of its own."""
        params: dict[str, Any] = {
            "runner": request.runner,
            "now": ts(request.now),
            "until": ts(request.lease_until),
            "before": ts(request.before),
            "limit": max(request.limit, 0),
        }
        since, until = request.history_window()
        params["history"] = {"since": ts(since), "until": ts(until)}
        return await self._run(self._prune, params)

    def _prune(self, params: dict[str, Any]) -> Pruned | None:
        with self._write() as conn:
            if not conn.execute(Q["take_maintenance_lease"], params).rowcount:
                return None
            counted = conn.execute(Q["count_minutes"], params["history"]).fetchall()
            conn.execute(Q["store_minutes"], {"minutes": json.dumps(counted)})
            conn.execute(Q["prune_history"], params)
            conn.execute(Q["prune_worker_history"], params)
            jobs = conn.execute(Q["prune_jobs_batch"], params).rowcount
            occurrences = conn.execute(Q["prune_occurrences_batch"], params).rowcount
            workers = conn.execute(Q["prune_gone_workers"], params).rowcount
            if jobs < params["limit"] and occurrences < params["limit"]:
                conn.execute(Q["release_maintenance_lease"], params)
        return Pruned(jobs=jobs, occurrences=occurrences, workers=workers)

    # -- jobs: reads ----------------------------------------------------------
    async def get_job(self, job_id: str) -> Job | None:
        return await self._run_read(self._get_job, job_id)

    @staticmethod
    def _get_job(conn: sqlite3.Connection, job_id: str) -> Job | None:
        found = read_jobs(conn.execute(Q["get_job"], (job_id,)))
        return found[0] if found else None

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        if not job_ids:
            return []
        return await self._run_read(self._select_jobs, Q["get_jobs"], (json.dumps(list(job_ids)),))

    @staticmethod
    def _select_jobs(
        conn: sqlite3.Connection, sql: str, params: Sequence[Any] | dict[str, Any]
    ) -> list[Job]:
        return read_jobs(conn.execute(sql, params))

    async def list_jobs(self, job_filter: JobFilter) -> tuple[list[Job], int]:
        f = job_filter
        clauses, params = _filter_clauses(f)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        order = list_order(f.order_by, f.order_dir)
        page_sql = Q["list_jobs"].format(where=where, order=order)
        count_sql = Q["count_jobs"].format(where=where)
        return await self._run_read(self._list_jobs, page_sql, count_sql, params, f.limit, f.offset)

    def _list_jobs(
        self,
        conn: sqlite3.Connection,
        page_sql: str,
        count_sql: str,
        params: dict[str, Any],
        limit: int,
        offset: int,
    ) -> tuple[list[Job], int]:
        with self._read(conn):
            total = conn.execute(count_sql, params).fetchone()[0]
            jobs = read_jobs(conn.execute(page_sql, {**params, "limit": limit, "offset": offset}))
        return jobs, total

    async def list_attempts(self, job_id: str) -> list[Attempt]:
        rows = await self._run_read(self._select, Q["list_attempts"], (job_id,))
        recorded = [
            Attempt(
                number,
                worker,
                codec.dt(started),
                _at(finished),
                Outcome(outcome),
                JobError.from_dict(json.loads(error)) if error else None,
            )
            for number, worker, started, finished, outcome, error in rows
        ]
        return with_completion(recorded, await self.get_job(job_id), self.attempts_kept)

    async def report_progress(
        self,
        job_id: str,
        worker_id: str,
        fraction: float | None,
        message: str | None,
        now: datetime,
    ) -> bool:
        params = {
            "id": job_id,
            "worker_id": worker_id,
            "fraction": fraction,
            "message": message,
            "now": ts(now),
        }
        return bool(await self._run(self._bookkeeping, Q["report_progress"], params))

    async def get_progress(self, job_id: str) -> Progress | None:
        rows = await self._run_read(self._select, Q["get_progress"], (job_id,))
        if not rows:
            return None
        fraction, message, updated = rows[0]
        return Progress(fraction, message, _at(updated))

    async def job_groups(self) -> list[JobGroup]:
        return await self._run_read(self._job_groups)

    @staticmethod
    def _job_groups(conn: sqlite3.Connection) -> list[JobGroup]:
        rows = conn.execute(Q["job_groups"]).fetchall()
        return [
            JobGroup(STATUS_BY_VALUE[status], queue, PRIORITY_BY_RANK[rank], *sums)
            for status, queue, rank, *sums in rows
        ]

    async def job_history(self, since: datetime, now: datetime) -> list[MinuteCounts]:
        recount = max(since, now - HISTORY_RECOUNT)
        return await self._run_read(self._job_history, ts(since), ts(recount), ts(now))

    def _job_history(
        self, conn: sqlite3.Connection, since: float, recount: float, now: float
    ) -> list[MinuteCounts]:
        with self._read(conn):
            stored = conn.execute(Q["stored_minutes"], {"since": since, "until": now}).fetchall()
            counted = conn.execute(Q["count_minutes"], {"since": recount, "until": now}).fetchall()
        return merge_minutes(_minutes(stored), _minutes(counted))

    async def queue_waits(self, now: datetime) -> list[QueueWait]:
        rows = await self._run_read(self._select, Q["queue_waits"], {"now": ts(now)})
        return [QueueWait(name, dt(due) or datetime.min) for name, due in rows]

    async def jobs_ahead(self, job_id: str, now: datetime, cap: int) -> int:
        params = {"id": job_id, "now": ts(now), "cap": max(cap, 0)}
        rows = await self._run_read(self._select, Q["jobs_ahead"], params)
        return int(rows[0][0])

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
        params = {
            "id": worker_id,
            "hostname": hostname,
            "pid": pid,
            "queues": None if queues is None else json.dumps(list(queues)),
            "tasks": None if tasks is None else json.dumps(encode_tasks(tasks)),
            "now": ts(now),
        }
        await self._run(self._execute, Q["register_worker"], params)

    async def list_workers(self) -> list[WorkerRecord]:
        rows = await self._run_read(self._select, Q["list_workers"], ())
        return [_worker(row) for row in rows]

    async def get_worker(self, worker_id: str) -> WorkerRecord | None:
        rows = await self._run_read(self._select, Q["get_worker"], (worker_id,))
        return _worker(rows[0]) if rows else None

    async def waiting_tasks(self) -> list[tuple[str, str | None, int]]:
        rows = await self._run_read(self._select, Q["waiting_tasks"], ())
        return [(name, version, count) for name, version, count in rows]

    async def heartbeat(
        self, worker_id: str, now: datetime, *, counts: WorkerCounts | None = None
    ) -> None:
        minute = now.replace(second=0, microsecond=0)
        params = {"id": worker_id, "now": ts(now), "minute": ts(minute), **count_params(counts)}
        await self._run(self._beat, Q["heartbeat"], params)

    async def unregister_worker(
        self, worker_id: str, *, counts: WorkerCounts | None = None
    ) -> None:
        params = {"id": worker_id, "minute": None, **count_params(counts)}
        await self._run(self._beat, Q["unregister_worker"], params)

    def _beat(self, sql: str, params: dict[str, Any]) -> None:
        """``sql`` on the worker's row, then its counts into its minute of
        worker_history, in one transaction of the worker's bookkeeping."""
        with self._write(bookkeeping=True) as conn:
            conn.execute(sql, params)
            conn.execute(Q["record_worker_minute"], params)

    async def worker_minutes(self, since: datetime, until: datetime) -> list[WorkerMinute]:
        params = {"since": ts(since), "until": ts(until)}
        rows = await self._run_read(self._select, Q["worker_minutes"], params)
        return [WorkerMinute(_at(m), w, int(p), int(f)) for m, w, p, f in rows]

    async def save_stats_snapshot(self, snapshot: StatsSnapshot) -> None:
        params = {
            "computed_at": ts(snapshot.computed_at),
            "took": snapshot.took,
            "stats": snapshot.stats,
        }
        await self._run(self._execute, Q["save_stats_snapshot"], params)

    async def load_stats_snapshot(self) -> StatsSnapshot | None:
        rows = await self._run_read(self._select, Q["load_stats_snapshot"], {})
        if not rows:
            return None
        computed_at, took, stats = rows[0]
        return StatsSnapshot(_at(computed_at), float(took), str(stats))

    async def rescue_jobs(self, stale_before: datetime, now: datetime) -> list[RescuedJob]:
        rescued = await self._run(self._rescue_jobs, ts(stale_before), ts(now))
        if rescued:
            self._notify()
        return rescued

    def _rescue_jobs(self, stale_before: float, now: float) -> list[RescuedJob]:
        with self._write() as conn:
            conn.execute(Q["forget_stale_workers"], (stale_before,))
            rows = conn.execute(Q["rescue_reserved"]).fetchall()
            lost = [row[0] for row in conn.execute(Q["record_lost_attempts"], {"now": now})]
            rows += conn.execute(Q["rescue_running"], {"now": now}).fetchall()
            if lost:
                trim = {"ids": _dumps(lost), "kept": self.attempts_kept}
                conn.execute(Q["trim_attempts"], trim)
        return [RescuedJob(job_id, STATUS_BY_VALUE[status]) for job_id, status in rows]

    # -- queues ---------------------------------------------------------------
    async def pause_queue(self, name: str) -> None:
        await self._run(self._execute, Q["pause_queue"], (name,))

    async def resume_queue(self, name: str) -> None:
        await self._run(self._execute, Q["resume_queue"], (name,))
        self._notify()

    async def clear_queue(self, name: str) -> int:
        return await self._run(self._execute, Q["clear_queue"], (name,))

    async def list_queues(self) -> list[QueueInfo]:
        rows = await self._run_read(self._select, Q["list_queues"], ())
        return [QueueInfo(name, size, bool(paused)) for name, size, paused in rows]

    async def paused_queues(self) -> set[str]:
        return {row[0] for row in await self._run_read(self._select, Q["paused_queues"], ())}

    @staticmethod
    def _select(
        conn: sqlite3.Connection, sql: str, params: Sequence[Any] | dict[str, Any]
    ) -> list[Any]:
        return conn.execute(sql, params).fetchall()

    # -- schedules ------------------------------------------------------------
    async def insert_schedule(self, schedule: Schedule) -> None:
        try:
            await self._run(self._execute, Q["insert_schedule"], codec.schedule_params(schedule))
        except sqlite3.IntegrityError as exc:
            raise ValidationError(f"Cannot store schedule {schedule.id}: {exc}") from None

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        rows = await self._run_read(self._select, Q["get_schedule"], (schedule_id,))
        return row_to_schedule(rows[0]) if rows else None

    async def list_schedules(self, schedule_filter: ScheduleFilter) -> tuple[list[Schedule], int]:
        f = schedule_filter
        params = {
            "status": None if f.status is None else str(f.status),
            "tags": json.dumps(list(f.tags)) if f.tags else None,
        }
        return await self._run_read(self._list_schedules, params, f.limit, f.offset)

    def _list_schedules(
        self, conn: sqlite3.Connection, params: dict[str, Any], limit: int, offset: int
    ) -> tuple[list[Schedule], int]:
        with self._read(conn):
            total = conn.execute(Q["count_schedules"], params).fetchone()[0]
            page = {**params, "limit": limit, "offset": offset}
            rows = conn.execute(Q["list_schedules"], page).fetchall()
        return [row_to_schedule(row) for row in rows], total

    async def update_schedule_fields(
        self, schedule: Schedule, fields: Collection[str]
    ) -> Schedule | None:
        encoded = dict(zip(_SCHEDULE_COLUMNS, codec.schedule_params(schedule), strict=True))
        params = schedule_change_params(schedule, fields, encoded)
        return await self._run(self._change_schedule, Q["update_schedule_fields"], params)

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        next_run_at: datetime | None,
        now: datetime,
        *,
        revision: int | None = None,
    ) -> Schedule | None:
        params = {
            "id": schedule_id,
            "status": ScheduleStatus(status).value,
            "next_run_at": ts(next_run_at),
            "now": ts(now),
            "revision": revision,
        }
        return await self._run(self._change_schedule, Q["set_schedule_status"], params)

    def _change_schedule(self, sql: str, params: dict[str, Any]) -> Schedule | None:
        """Apply a guarded change; None when the revision moved, an error when it is gone."""
        with self._write() as conn:
            row = conn.execute(sql, params).fetchone()
            if row is None and conn.execute(Q["schedule_exists"], (params["id"],)).fetchone():
                return None
        if row is None:
            raise ScheduleNotFound(f"Schedule {params['id']} not found")
        return row_to_schedule(row)

    async def advance_schedule(
        self,
        schedule_id: str,
        occurrence: datetime,
        next_run_at: datetime | None,
        *,
        revision: int | None = None,
    ) -> bool:
        params = {
            "id": schedule_id,
            "occurrence": ts(occurrence),
            "next_run_at": ts(next_run_at),
            "revision": revision,
        }
        return bool(await self._run(self._execute, Q["advance_schedule"], params))

    async def delete_schedule(self, schedule_id: str) -> bool:
        return bool(await self._run(self._execute, Q["delete_schedule"], (schedule_id,)))

    async def due_schedules(self, now: datetime, limit: int) -> list[Schedule]:
        rows = await self._run_read(self._select, Q["due_schedules"], (ts(now), limit))
        return [row_to_schedule(row) for row in rows]

    async def fire_schedule(
        self,
        schedule_id: str,
        occurrence: datetime,
        job: Job,
        next_run_at: datetime | None,
        *,
        revision: int | None = None,
    ) -> bool:
        params = codec.job_params(job)
        fired = await self._run(
            self._fire_schedule,
            schedule_id,
            ts(occurrence),
            job.id,
            params,
            ts(next_run_at),
            revision,
        )
        if fired:
            self._notify()
        return fired

    def _fire_schedule(
        self,
        schedule_id: str,
        occurrence: float,
        job_id: str,
        params: tuple[Any, ...],
        next_run_at: float | None,
        revision: int | None,
    ) -> bool:
        try:
            with self._write() as conn:
                found = conn.execute(Q["schedule_status"], (schedule_id,)).fetchone()
                if found is None or found[0] != "active":
                    return False
                if revision is not None and found[1] != revision:
                    return False
                recorded = conn.execute(Q["record_occurrence"], (schedule_id, occurrence, job_id))
                if recorded.rowcount == 0:
                    return False
                conn.execute(Q["insert_job"], params)
                conn.execute(Q["schedule_fired"], (occurrence, next_run_at, schedule_id))
        except sqlite3.IntegrityError as exc:
            raise self._duplicate([job_id], exc) from None
        return True


def _at(value: float) -> datetime:
    """A timestamp column that is never NULL, as a datetime."""
    when = codec.dt(value)
    assert when is not None
    return when


def _worker(row: Sequence[Any]) -> WorkerRecord:
    (worker_id, hostname, pid, queues, tasks, started, beat, gone, processed, failed, running) = row
    return WorkerRecord(
        id=worker_id,
        hostname=hostname,
        pid=pid,
        queues=None if queues is None else json.loads(queues),
        tasks=decode_tasks(None if tasks is None else json.loads(tasks)),
        started_at=_at(started),
        heartbeat_at=_at(beat),
        gone_at=codec.dt(gone),
        processed=processed,
        failed=failed,
        running_jobs=sorted(json.loads(running)),
    )
