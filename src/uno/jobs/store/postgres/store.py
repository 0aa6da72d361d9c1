"""The PostgreSQL store: for many workers on many machines.

Hot paths are one statement per batch: ``FOR UPDATE SKIP LOCKED`` claims, updates
driven by ``unnest`` arrays, and a ``pg_notify`` in the same statement wherever
work becomes due, so idle workers wake on LISTEN instead of polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import select
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Self, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from uno.jobs.attempts import Attempt, Outcome, Progress, with_completion
from uno.jobs.clock import as_utc, utcnow
from uno.jobs.errors import (
    DuplicateJob,
    IllegalTransition,
    JobNotFound,
    ScheduleNotFound,
    StoreUnavailable,
    ValidationError,
)
from uno.jobs.jobs import Job, JobError, Priority, Status
from uno.jobs.limits import DEFAULT_LIMITS
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
from uno.jobs.settings import PostgresSettings, masked_url
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
from uno.jobs.store.columns import CLAIM_ORDER, list_order
from uno.jobs.store.postgres import rows
from uno.jobs.store.postgres.bound import BlockingBoundPostgresStore, BoundPostgresStore
from uno.jobs.store.postgres.listener import Listener
from uno.jobs.store.postgres.migrations import migrate
from uno.jobs.store.served import EncodedTasks
from uno.jobs.store.sqlfile import load_queries
from uno.jobs.store.statuses import STATUS_SET_SLOTS, STATUS_SLOTS
from uno.jobs.workers import (
    TaskRef,
    WorkerCounts,
    WorkerRecord,
    count_params,
    decode_tasks,
    encode_tasks,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]

#: The schema of a store whose URL and arguments name none.
DEFAULT_SCHEMA = "uno_jobs"

#: From this many jobs on, ``insert_jobs`` uses COPY rather than one INSERT. COPY
#: costs a second round trip (the NOTIFY) but less CPU per row on both sides, in the
#: client (no ``unnest`` arrays to adapt) and in the server (no array to unpack, no
#: tags re-parsed from JSON), which pays from about a dozen jobs on: the groups of a
#: group commit under many producers are COPYs.
COPY_THRESHOLD = 16

#: The cast of a schedule field's parameter in a field-level update (text otherwise).
_SCHEDULE_CASTS = {
    "interval": "::jsonb",
    "args": "::jsonb",
    "kwargs": "::jsonb",
    "metadata": "::jsonb",
    "tags": "::text[]",
}


def _load() -> dict[str, str]:
    """The named queries with the statuses, the job column lists (generated from the
    column spec) and the schedule fields' assignments filled in."""
    assignments = ", ".join(
        f"{name} = CASE WHEN %(set_{name})s THEN %({name})s{_SCHEDULE_CASTS.get(name, '')}"
        f" ELSE {name} END"
        for name in sorted(SCHEDULE_FIELDS)
    )
    slots = {**STATUS_SET_SLOTS, **rows.QUERY_SLOTS, "schedule_assignments": assignments}
    return load_queries("uno.jobs.store.postgres", "queries.sql", slots, optional=STATUS_SLOTS)


_QUERIES = _load()


async def _drop_if_broken(conn: Conn) -> None:
    """Pool check before lending a connection, nearly free when it is healthy.

    An idle connection has nothing to read; if its socket is readable, the server
    has closed it or said goodbye (a restart, a terminated backend). A query then
    raises and the pool replaces the connection, so the caller's statement, which
    may not be safe to repeat, goes to a live one.
    """
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    if readable:
        await conn.execute("SELECT 1")


def _insert_cursor(conn: Conn) -> psycopg.AsyncCursor[Any]:
    """The cursor a pooled connection's small inserts run on, made once per
    connection: a cursor keeps the adapters it has chosen for each parameter, while
    a new cursor per statement (``conn.execute``) would choose them all again for
    every enqueue. A pooled connection serves one caller at a time, so its cursor
    is never shared by two statements at once."""
    cursor: psycopg.AsyncCursor[Any] | None = getattr(conn, "_uno_insert_cursor", None)
    if cursor is None or cursor.closed:
        cursor = conn.cursor()
        conn._uno_insert_cursor = cursor  # type: ignore[attr-defined]
    return cursor


def _conninfo(url: str) -> str:
    """Accept SQLAlchemy-style ``postgresql+psycopg://`` URLs too."""
    for prefix in ("postgresql+psycopg://", "postgres+psycopg://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


def failure_reason(exc: BaseException) -> str:
    """What libpq said about a failed connection, on one line.

    Its messages span lines (a hint, one line per address tried); a log line, a
    ``detail`` or a command's error keeps all of it, joined.
    """
    text = str(exc).strip() or type(exc).__name__
    text = text.removeprefix("connection failed: ")
    return "; ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def connection_params(url_params: dict[str, Any], settings: PostgresSettings) -> dict[str, Any]:
    """The libpq parameters ``settings`` add to a URL's own (the URL's win).

    ``statement_timeout`` travels in ``options`` (``-c statement_timeout=...``),
    appended to any ``options`` the URL has unless those already set it; the
    result carries the URL's ``options`` too, so a store adding its own (the
    bookkeeping pool) appends to them rather than replacing them.
    """
    params: dict[str, Any] = {}
    if settings.connect_timeout:
        params["connect_timeout"] = max(int(settings.connect_timeout), 2)
    params["keepalives"] = 1
    params["keepalives_idle"] = settings.keepalives_idle
    params["keepalives_interval"] = settings.keepalives_interval
    params["keepalives_count"] = settings.keepalives_count
    params = {key: value for key, value in params.items() if key not in url_params}
    options = str(url_params.get("options") or "")
    if settings.statement_timeout and "statement_timeout" not in options:
        timeout_ms = max(int(settings.statement_timeout * 1000), 1)
        options = f"{options} -c statement_timeout={timeout_ms}".strip()
    if options:
        params["options"] = options
    return params


def split_schema(url: str) -> tuple[str, str | None]:
    """The URL without its ``?schema=`` parameter, and that schema (None if absent).

    libpq knows no such parameter; taking it from the URL lets a worker, a
    scheduler or the API be pointed at a schema by the database URL alone.
    """
    parts = urlsplit(url)
    if "://" not in url or not parts.query:
        return url, None
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    if not schemas:
        return url, None
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schemas[-1] or None


class PostgresStore:
    """A ``Store`` on PostgreSQL, every table in one schema of the database."""

    #: A worker's claims, outcomes and heartbeats are flushed at commit unless told
    #: otherwise, as every other write here (and as River's, Oban's and PgQueuer's).
    DEFAULT_DURABLE_ACKS = True

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connection: PostgresSettings | None = None,
        attempts_kept: int = DEFAULT_LIMITS.max_attempts_kept,
        durable_acks: bool | None = None,
    ) -> None:
        self.url = url
        #: Whether a worker's claims, outcomes and heartbeats wait for the WAL
        #: flush (``Settings.worker_durable_acks``; see ``_bookkeeping_pool``).
        self.durable_acks = self.DEFAULT_DURABLE_ACKS if durable_acks is None else durable_acks
        #: The attempts of each job's history kept (``Limits.max_attempts_kept``).
        self.attempts_kept = max(1, attempts_kept)
        self.applied_at_open: list[str] = []
        #: Connect, pool and statement timeouts and TCP keepalives.
        self.connection = connection or PostgresSettings()
        url, url_schema = split_schema(url)
        #: ``schema=``, else the URL's ``?schema=``, else ``uno_jobs``.
        self.schema = schema = schema or url_schema or DEFAULT_SCHEMA
        self.channel = f"uno_jobs.{schema}"
        #: Names this store's sessions in ``pg_stat_activity``.
        self.application_name = f"uno-jobs {schema}"[:63]
        self._conninfo = _conninfo(url)
        self._params = connection_params(
            psycopg.conninfo.conninfo_to_dict(self._conninfo), self.connection
        )
        #: Why the last new connection failed: a pool timeout alone does not say.
        self._connect_failure: str | None = None
        self._min_size = min_size
        self._max_size = max_size
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._bookkeeping: AsyncConnectionPool[Conn] | None = None
        self._bookkeeping_lock = asyncio.Lock()
        self._listener: Listener | None = None
        quoted = sql.Identifier(schema).as_string(None)
        self._q = {name: text.replace("{schema}", quoted) for name, text in _QUERIES.items()}
        #: The claim's task filter, encoded once for the worker's task list.
        self._task_arrays = EncodedTasks(rows.task_arrays)

    # -- lifecycle ------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        await self._try_connect()
        self._pool = await self._open_pool(self._min_size, self._max_size)
        self._listener = Listener(
            self._conninfo,
            self.channel,
            {**self._params, "application_name": self.application_name},
        )
        self.applied_at_open = await self.migrate()

    async def _try_connect(self) -> None:
        """Connect once, so that a wrong or unreachable database fails the opening
        at once and with libpq's reason, rather than as a pool timeout."""
        try:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, **self._params)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(self._unreachable(failure_reason(exc))) from exc
        await conn.close()

    def _unreachable(self, reason: str | None) -> str:
        return f"Cannot reach the database at {self._safe_url}: {reason or 'no answer'}"

    async def _open_pool(
        self, min_size: int, max_size: int, *, options: str | None = None
    ) -> AsyncConnectionPool[Conn]:
        kwargs: dict[str, Any] = {
            **self._params,
            "autocommit": True,
            "application_name": self.application_name,
        }
        if options:
            kwargs["options"] = f"{kwargs.get('options', '')} {options}".strip()
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self._conninfo,
            connection_class=self._connection_class(),
            min_size=min_size,
            max_size=max_size,
            kwargs=kwargs,
            configure=self._configure,
            check=_drop_if_broken,
            open=False,
            name=f"uno-jobs:{self.schema}",
            timeout=self.connection.pool_timeout,
        )
        wait = self.connection.pool_timeout + self.connection.connect_timeout
        try:
            await pool.open(wait=True, timeout=wait)
        except PoolTimeout as exc:
            await pool.close()
            raise StoreUnavailable(self._unreachable(self._connect_failure)) from exc
        except BaseException:  # cancelled: leave no pool connecting in the background
            await pool.close()
            raise
        return pool

    def _connection_class(self) -> type[Conn]:
        """The pool's connection class: it notes why a connection could not be made."""
        store = self

        class Connection(psycopg.AsyncConnection[Any]):
            @classmethod
            async def connect(cls, *args: Any, **kwargs: Any) -> Self:
                try:
                    conn = await super().connect(*args, **kwargs)
                except psycopg.OperationalError as exc:
                    store._connect_failure = failure_reason(exc)
                    raise
                store._connect_failure = None
                return conn

        return Connection

    async def _bookkeeping_pool(self) -> AsyncConnectionPool[Conn]:
        """Connections for a worker's own claims, outcomes and heartbeats.

        With ``durable_acks`` they commit as every other write does (the server's
        ``synchronous_commit``, by default waiting for the WAL flush). Without, their
        sessions set ``synchronous_commit=off``: a commit is visible at once but not
        yet on disk, so a crash of the PostgreSQL server or its machine can forget
        the last fraction of a second of them, and those jobs then run again, which
        at-least-once delivery allows (a worker hands back what it holds after any
        store error). This pool is the one place the choice is made: enqueues,
        cancels and schedule changes never use it.
        """
        if self._bookkeeping is None:
            async with self._bookkeeping_lock:
                if self._bookkeeping is None:
                    options = None if self.durable_acks else "-c synchronous_commit=off"
                    self._bookkeeping = await self._open_pool(1, 2, options=options)
        return self._bookkeeping

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        for pool in (self._bookkeeping, self._pool):
            if pool is not None:
                await pool.close()
        self._pool = self._bookkeeping = None

    async def migrate(self) -> list[str]:
        """Apply missing migrations, free of the statement timeout (an index on a
        large table may take longer to build than any request should)."""

        async def work(conn: Conn) -> list[str]:
            await conn.execute("SET statement_timeout = 0")
            try:
                applied = await migrate(conn, self.schema)
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute("RESET statement_timeout")
                raise
            await conn.execute("RESET statement_timeout")
            return applied

        return await self._with_conn(work, idempotent=True)

    async def ping(self) -> bool:
        try:
            await self._query("SELECT 1", {}, idempotent=True)
        except StoreUnavailable:
            return False
        return True

    async def wait_for_jobs(self, timeout: float) -> None:
        if self._listener is None:
            await asyncio.sleep(timeout)
            return
        await self._listener.wait(timeout)

    async def watch_cancels(self, listener: CancelListener) -> Callable[[], None]:
        if self._listener is None:
            raise StoreUnavailable("The PostgreSQL store is not open")
        return self._listener.on_cancel(listener)

    async def listening(self, timeout: float = 5.0) -> bool:
        """Start the LISTEN connection now; True once it is in place."""
        if self._listener is None:
            return False
        return await self._listener.wait_listening(timeout)

    @property
    def _safe_url(self) -> str:
        return masked_url(self.url)

    async def _configure(self, conn: Conn) -> None:
        """Every pooled connection finds the store's tables and speaks UTC."""
        await conn.execute(
            sql.SQL("SET search_path TO {}; SET TIME ZONE 'UTC'").format(
                sql.Identifier(self.schema)
            )
        )

    # -- plumbing -------------------------------------------------------------
    async def _with_conn(
        self,
        work: Callable[[Conn], Awaitable[T]],
        *,
        idempotent: bool,
        bookkeeping: bool = False,
    ) -> T:
        """Run ``work`` on a pooled connection.

        When the connection turns out broken (a server restart, a terminated
        backend), idle connections are checked and replaced; idempotent work is
        tried once more, anything else raises ``StoreUnavailable``, since it may
        or may not have been applied.
        """
        if self._pool is None:
            raise StoreUnavailable("The PostgreSQL store is not open")
        for attempt in (1, 2):
            pool = self._pool
            try:
                if bookkeeping:
                    pool = await self._bookkeeping_pool()
                async with pool.connection() as conn:
                    return await work(conn)
            except PoolTimeout as exc:
                reason = f"no connection within {self.connection.pool_timeout:g}s"
                if self._connect_failure:
                    reason += f" ({self._connect_failure})"
                raise StoreUnavailable(self._unreachable(reason)) from exc
            except psycopg.errors.QueryCanceled as exc:
                # statement_timeout: the connection is fine, and trying again would
                # only double the wait.
                raise StoreUnavailable(f"PostgreSQL: {failure_reason(exc)}") from exc
            except psycopg.OperationalError as exc:
                log.warning("PostgreSQL connection failed: %s", exc)
                await pool.check()
                if not idempotent or attempt == 2:
                    raise StoreUnavailable(f"PostgreSQL is unavailable: {exc}") from exc
        raise AssertionError("unreachable")

    async def _query(self, query: str, params: dict[str, Any], *, idempotent: bool) -> list[Row]:
        async def work(conn: Conn) -> list[Row]:
            async with conn.cursor(row_factory=dict_row, binary=True) as cur:
                await cur.execute(query, params)
                return await cur.fetchall() if cur.description else []

        return await self._with_conn(work, idempotent=idempotent)

    async def _read_jobs(
        self, query: str, params: dict[str, Any], *, idempotent: bool
    ) -> list[Job]:
        """Run a job read (or a change returning jobs); its rows as Jobs."""

        async def work(conn: Conn) -> tuple[Any, list[tuple[Any, ...]]]:
            async with conn.cursor(binary=True) as cur:
                await cur.execute(query, params)
                return cur.description, await cur.fetchall()

        return _jobs(*await self._with_conn(work, idempotent=idempotent))

    async def _rowcount(
        self, query: str, params: dict[str, Any], *, idempotent: bool, bookkeeping: bool = False
    ) -> int:
        async def work(conn: Conn) -> int:
            cur = await conn.execute(query, params)
            return cur.rowcount

        return await self._with_conn(work, idempotent=idempotent, bookkeeping=bookkeeping)

    # -- jobs: writes ---------------------------------------------------------
    async def insert_jobs(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            return

        async def work(conn: Conn) -> None:
            await self._insert_on(conn, jobs, _insert_cursor(conn))

        await self._with_conn(work, idempotent=False)

    def bound_to(self, connection: Any) -> BoundPostgresStore:
        if not isinstance(connection, psycopg.AsyncConnection):
            raise ValidationError(
                f"connection= takes a psycopg AsyncConnection, got {type(connection).__name__}; "
                "use enqueue_on() for a blocking psycopg Connection"
            )
        return BoundPostgresStore(self, connection)

    def bound_to_blocking(self, connection: Any) -> BlockingBoundPostgresStore:
        if not isinstance(connection, psycopg.Connection):
            raise ValidationError(
                "enqueue_on() takes a blocking psycopg Connection, "
                f"got {type(connection).__name__}; "
                "pass an AsyncConnection to enqueue(..., connection=...) instead"
            )
        return BlockingBoundPostgresStore(self, connection)

    async def _insert_on(
        self, conn: Conn, jobs: Sequence[Job], cursor: psycopg.AsyncCursor[Any] | None = None
    ) -> None:
        """Insert ``jobs`` in the open transaction on ``conn`` (the pool's or the
        caller's): they exist, and workers are woken, only if it commits.

        Small batches are one INSERT (one round trip), on ``cursor`` when given;
        large ones a binary COPY, several times faster per row, followed by the NOTIFY.
        """
        if not jobs:
            return
        try:
            if len(jobs) < COPY_THRESHOLD:
                await (cursor or conn).execute(*self._insert_statement(jobs))
                return
            async with conn.cursor() as cur, cur.copy(self._q["copy_jobs"]) as copy:
                copy.set_types(rows.COPY_TYPES)
                for row in rows.job_rows(jobs):
                    await copy.write_row(row)
            await conn.execute(self._q["notify"], {"channel": self.channel})
        except psycopg.errors.UniqueViolation as exc:
            raise _duplicate(exc) from exc

    def _insert_on_blocking(self, conn: psycopg.Connection[Any], jobs: Sequence[Job]) -> None:
        """The blocking twin of ``_insert_on``, for synchronous applications."""
        if not jobs:
            return
        try:
            if len(jobs) < COPY_THRESHOLD:
                conn.execute(*self._insert_statement(jobs))
                return
            with conn.cursor() as cur, cur.copy(self._q["copy_jobs"]) as copy:
                copy.set_types(rows.COPY_TYPES)
                for row in rows.job_rows(jobs):
                    copy.write_row(row)
            conn.execute(self._q["notify"], {"channel": self.channel})
        except psycopg.errors.UniqueViolation as exc:
            raise _duplicate(exc) from exc

    def _insert_statement(self, jobs: Sequence[Job]) -> tuple[str, dict[str, Any]]:
        """The INSERT for a small batch: one VALUES row for one job, else unnest."""
        if len(jobs) == 1:
            params = rows.job_row(jobs[0])
            query = self._q["insert_job"]
        else:
            params = rows.job_columns(jobs)
            query = self._q["insert_jobs"]
        params["channel"] = self.channel
        return query, params

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
        claim = self._claim_query(worker_id, queues, limit, now, running, tasks)
        if claim is None:
            return await self.start_jobs(start, worker_id, now), []
        if not start:
            return [], await self._claim(claim)
        starting = (
            self._q["start_jobs"],
            {"ids": list(start), "worker_id": worker_id, "now": as_utc(now)},
        )
        return await self._start_and_claim(starting, claim)

    def _claim_query(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        limit: int,
        now: datetime,
        running: int,
        tasks: Sequence[TaskRef] | None,
    ) -> tuple[str, dict[str, Any]] | None:
        """The claim statement and its parameters; None when nothing can be claimed."""
        if limit <= 0 or (queues is not None and not queues):
            return None
        if tasks is not None and not tasks:
            return None
        names, versions = ("{}", "{}") if tasks is None else self._task_arrays(tasks)
        params: dict[str, Any] = {
            "worker_id": worker_id,
            "limit": limit,
            "now": as_utc(now),
            "running": running,
            "by_task": tasks is not None,
            "task_names": names,
            "task_versions": versions,
        }
        if queues is None:
            return self._q["fetch_jobs"], params
        params["queues"] = list(queues)
        return self._q["fetch_jobs_from_queues"], params

    async def _claim(self, claim: tuple[str, dict[str, Any]]) -> list[Job]:
        async def work(conn: Conn) -> tuple[Any, list[tuple[Any, ...]]]:
            async with conn.cursor(binary=True) as cur:
                await cur.execute(*claim)
                return cur.description, await cur.fetchall()

        return self._claimed(*await self._with_conn(work, idempotent=False, bookkeeping=True))

    async def _start_and_claim(
        self, starting: tuple[str, dict[str, Any]], claim: tuple[str, dict[str, Any]]
    ) -> tuple[list[str], list[Job]]:
        """Both statements sent at once (pipeline mode): one round trip, each
        statement its own transaction as when sent apart."""

        async def work(conn: Conn) -> tuple[list[str], Any, list[tuple[Any, ...]]]:
            async with conn.cursor() as started, conn.cursor(binary=True) as cur:
                async with conn.pipeline():
                    await started.execute(*starting)
                    await cur.execute(*claim)
                ids = [row[0] for row in await started.fetchall()]
                return ids, cur.description, await cur.fetchall()

        ids, description, found = await self._with_conn(work, idempotent=False, bookkeeping=True)
        return ids, self._claimed(description, found)

    @staticmethod
    def _claimed(description: Any, found: list[tuple[Any, ...]]) -> list[Job]:
        if not found:
            return []
        reader = rows.job_reader(description)
        # RETURNING order is unspecified: restore claim order (rank, due time, seq).
        found.sort(key=reader.key(*CLAIM_ORDER))
        return list(map(reader.job, found))

    async def start_jobs(self, job_ids: Sequence[str], worker_id: str, now: datetime) -> list[str]:
        if not job_ids:
            return []
        params = {"ids": list(job_ids), "worker_id": worker_id, "now": as_utc(now)}
        query = self._q["start_jobs"]

        async def work(conn: Conn) -> list[str]:
            cur = await conn.execute(query, params)
            return [row[0] for row in await cur.fetchall()]

        # A worker's own bookkeeping, as its claims are (see _bookkeeping_pool).
        return await self._with_conn(work, idempotent=True, bookkeeping=True)

    async def complete_jobs(self, worker_id: str, completions: Sequence[Completion]) -> list[str]:
        if not completions:
            return []
        params = {"batch": rows.completion_batch(completions), "worker_id": worker_id}
        written = await self._written_ids(self._q["complete_jobs"], params)
        return [c.job_id for c in completions if c.job_id not in written]

    async def fail_jobs(self, worker_id: str, failures: Sequence[Failure]) -> list[str]:
        if not failures:
            return []
        params: dict[str, Any] = rows.failure_columns(failures)
        params.update(worker_id=worker_id, channel=self.channel, kept=self.attempts_kept)
        written = await self._written_ids(self._q["fail_jobs"], params)
        return [f.job_id for f in failures if f.job_id not in written]

    async def _written_ids(self, query: str, params: dict[str, Any]) -> set[str]:
        """Run an outcome statement on a bookkeeping connection; the ids it changed."""

        async def work(conn: Conn) -> set[str]:
            async with conn.cursor() as cur:
                await cur.execute(query, params)
                return {row[0] for row in await cur.fetchall()}

        return await self._with_conn(work, idempotent=True, bookkeeping=True)

    async def release_jobs(self, worker_id: str, job_ids: Sequence[str]) -> None:
        if job_ids:
            params = {"ids": list(job_ids), "worker_id": worker_id, "channel": self.channel}
            await self._rowcount(self._q["release_jobs"], params, idempotent=True)

    async def release_strays(self, worker_id: str, keep: Sequence[str]) -> list[str]:
        params = {"worker_id": worker_id, "keep": list(keep), "channel": self.channel}
        found = await self._query(self._q["release_strays"], params, idempotent=True)
        return [row["id"] for row in found]

    async def cancel_job(self, job_id: str, reason: str | None, now: datetime) -> Job:
        params = {
            "id": job_id,
            "reason": reason,
            "now": as_utc(now),
            "channel": self.channel,
            "kept": self.attempts_kept,
        }
        found = await self._read_jobs(self._q["cancel_job"], params, idempotent=False)
        if found:
            return found[0]
        raise self._transition_error(await self.get_job(job_id), job_id, "cancel")

    async def retry_job(self, job_id: str, now: datetime) -> Job:
        params = {"id": job_id, "now": as_utc(now), "channel": self.channel}
        found = await self._read_jobs(self._q["retry_job"], params, idempotent=False)
        if found:
            return found[0]
        raise self._transition_error(await self.get_job(job_id), job_id, "retry")

    @staticmethod
    def _transition_error(job: Job | None, job_id: str, action: str) -> Exception:
        if job is None:
            return JobNotFound(f"Job not found: {job_id}")
        target = Status.CANCELLED if action == "cancel" else Status.PENDING
        return IllegalTransition(job_id, job.status.value, target.value, action)

    async def retry_matching(self, job_filter: JobFilter, limit: int, now: datetime) -> int:
        params = {"now": as_utc(now), "channel": self.channel}
        return await self._matching("retry_matching", job_filter, limit, params)

    async def cancel_matching(
        self, job_filter: JobFilter, reason: str | None, limit: int, now: datetime
    ) -> int:
        params = {"now": as_utc(now), "reason": reason}
        return await self._matching("cancel_matching", job_filter, limit, params)

    async def _matching(
        self, query: str, job_filter: JobFilter, limit: int, extra: dict[str, Any]
    ) -> int:
        where, params = _job_where(job_filter)
        sql_text = self._q[query].replace("{and_where}", f"AND {where}")
        params.update(extra, limit=max(limit, 0))
        found = await self._query(sql_text, params, idempotent=False)
        return int(found[0]["changed"]) if found else 0

    async def prune_jobs(self, finished_before: datetime) -> int:
        """Delete finished jobs, free of the statement timeout: the first prune of a
        large table is maintenance that may take longer than any request should."""
        params = {"before": as_utc(finished_before)}

        async def work(conn: Conn) -> int:
            async with conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = 0")
                cur = await conn.execute(self._q["prune_jobs"], params)
                return cur.rowcount

        return await self._with_conn(work, idempotent=True)

    async def prune(self, request: PruneRequest) -> Pruned | None:
        """A round in one transaction: a transaction-level advisory try-lock keeps
        rounds apart without waiting (a runner that misses it skips), and the lease
        row of ``maintenance_leases`` keeps the rounds of one run to one runner.
        Free of the statement timeout, as ``prune_jobs``; the batch bounds it."""
        limit = max(request.limit, 0)
        params = {
            "lock": f"uno_jobs:prune:{self.schema}",
            "runner": request.runner,
            "now": as_utc(request.now),
            "until": as_utc(request.lease_until),
            "before": as_utc(request.before),
            "limit": limit,
        }
        since, until = request.history_window()
        history = {"since": since, "until": until}

        async def work(conn: Conn) -> Pruned | None:
            async with conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = 0")
                cur = await conn.execute(self._q["try_maintenance_lock"], params)
                locked = await cur.fetchone()
                if not (locked and locked[0]):
                    return None
                cur = await conn.execute(self._q["take_maintenance_lease"], params)
                if not cur.rowcount:
                    return None
                await self._store_minutes(conn, history)
                await conn.execute(self._q["prune_history"], params)
                await conn.execute(self._q["prune_worker_history"], params)
                jobs = (await conn.execute(self._q["prune_jobs_batch"], params)).rowcount
                cur = await conn.execute(self._q["prune_occurrences_batch"], params)
                occurrences = cur.rowcount
                workers = (await conn.execute(self._q["prune_gone_workers"], params)).rowcount
                if jobs < limit and occurrences < limit:
                    await conn.execute(self._q["release_maintenance_lease"], params)
            return Pruned(jobs=jobs, occurrences=occurrences, workers=workers)

        return await self._with_conn(work, idempotent=True)

    # -- jobs: reads ----------------------------------------------------------
    async def get_job(self, job_id: str) -> Job | None:
        found = await self._read_jobs(self._q["get_job"], {"id": job_id}, idempotent=True)
        return found[0] if found else None

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        if not job_ids:
            return []
        params = {"ids": list(job_ids)}
        return await self._read_jobs(self._q["get_jobs"], params, idempotent=True)

    async def list_jobs(self, job_filter: JobFilter) -> tuple[list[Job], int]:
        where, params = _job_where(job_filter)
        order_by = list_order(job_filter.order_by, job_filter.order_dir)
        params.update(limit=job_filter.limit, offset=job_filter.offset)
        page_sql = self._q["list_jobs"].replace("{where}", where).replace("{order_by}", order_by)
        count_sql = self._q["count_jobs"].replace("{where}", where)

        async def work(conn: Conn) -> tuple[list[Job], int]:
            async with conn.cursor(binary=True) as cur:
                await cur.execute(page_sql, params)
                page = _jobs(cur.description, await cur.fetchall())
                await cur.execute(count_sql, params)
                total = (await cur.fetchone() or (0,))[0]
            return page, total

        return await self._with_conn(work, idempotent=True)

    async def list_attempts(self, job_id: str) -> list[Attempt]:
        found = await self._query(self._q["list_attempts"], {"id": job_id}, idempotent=True)
        recorded = [
            Attempt(
                r["attempt"],
                r["worker_id"],
                r["started_at"],
                r["finished_at"],
                Outcome(r["outcome"]),
                JobError.from_dict(r["error"]),
            )
            for r in found
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
            "now": as_utc(now),
        }
        written = await self._rowcount(
            self._q["report_progress"], params, idempotent=True, bookkeeping=True
        )
        return bool(written)

    async def get_progress(self, job_id: str) -> Progress | None:
        found = await self._query(self._q["get_progress"], {"id": job_id}, idempotent=True)
        if not found:
            return None
        return Progress(found[0]["fraction"], found[0]["message"], found[0]["updated_at"])

    async def job_groups(self) -> list[JobGroup]:
        async def work(conn: Conn) -> list[JobGroup]:
            async with conn.cursor() as cur:
                await cur.execute(self._q["job_groups"])
                rows = await cur.fetchall()
            return [
                JobGroup(Status(status), queue, Priority.from_rank(rank), *sums)
                for status, queue, rank, *sums in rows
            ]

        return await self._with_conn(work, idempotent=True)

    async def _store_minutes(self, conn: Conn, window: dict[str, datetime]) -> None:
        async with conn.cursor() as cur:
            await cur.execute(self._q["count_minutes"], window)
            counted = await cur.fetchall()
        columns = list(zip(*counted, strict=True)) if counted else [(), (), (), (), ()]
        names = ("minutes", "queues", "enqueued", "completed", "failed")
        params = {name: list(values) for name, values in zip(names, columns, strict=True)}
        await conn.execute(self._q["store_minutes"], params)

    async def job_history(self, since: datetime, now: datetime) -> list[MinuteCounts]:
        stored_window = {"since": as_utc(since), "until": as_utc(now)}
        recount_window = {
            "since": max(as_utc(since), as_utc(now) - HISTORY_RECOUNT),
            "until": as_utc(now),
        }

        async def work(conn: Conn) -> tuple[list[Any], list[Any]]:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.execute(self._q["stored_minutes"], stored_window)
                stored = await cur.fetchall()
                await cur.execute(self._q["count_minutes"], recount_window)
                return stored, await cur.fetchall()

        stored, counted = await self._with_conn(work, idempotent=True)
        return merge_minutes(_minutes(stored), _minutes(counted))

    async def queue_waits(self, now: datetime) -> list[QueueWait]:
        found = await self._query(self._q["queue_waits"], {"now": as_utc(now)}, idempotent=True)
        return [QueueWait(row["queue_name"], row["oldest"]) for row in found]

    async def jobs_ahead(self, job_id: str, now: datetime, cap: int) -> int:
        params = {"id": job_id, "now": as_utc(now), "cap": max(cap, 0)}
        found = await self._query(self._q["jobs_ahead"], params, idempotent=True)
        return int(found[0]["ahead"]) if found else 0

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
        encoded = encode_tasks(tasks)
        params = {
            "id": worker_id,
            "hostname": hostname,
            "pid": pid,
            "queues": None if queues is None else list(queues),
            "tasks": None if encoded is None else json.dumps(encoded),
            "now": as_utc(now),
        }
        await self._rowcount(self._q["register_worker"], params, idempotent=True)

    async def list_workers(self) -> list[WorkerRecord]:
        found = await self._query(self._q["list_workers"], {"id": None}, idempotent=True)
        return [_worker(r) for r in found]

    async def get_worker(self, worker_id: str) -> WorkerRecord | None:
        found = await self._query(self._q["list_workers"], {"id": worker_id}, idempotent=True)
        return _worker(found[0]) if found else None

    async def waiting_tasks(self) -> list[tuple[str, str | None, int]]:
        found = await self._query(self._q["waiting_tasks"], {}, idempotent=True)
        return [(r["task_name"], r["version"], r["waiting"]) for r in found]

    async def heartbeat(
        self, worker_id: str, now: datetime, *, counts: WorkerCounts | None = None
    ) -> None:
        params = {"id": worker_id, "now": as_utc(now), **count_params(counts)}
        await self._rowcount(self._q["heartbeat"], params, idempotent=True, bookkeeping=True)

    async def unregister_worker(
        self, worker_id: str, *, counts: WorkerCounts | None = None
    ) -> None:
        params = {"id": worker_id, **count_params(counts)}
        await self._rowcount(self._q["unregister_worker"], params, idempotent=True)

    async def worker_minutes(self, since: datetime, until: datetime) -> list[WorkerMinute]:
        params = {"since": as_utc(since), "until": as_utc(until)}
        found = await self._query(self._q["worker_minutes"], params, idempotent=True)
        return [
            WorkerMinute(r["minute"], r["worker_id"], int(r["processed"]), int(r["failed"]))
            for r in found
        ]

    async def save_stats_snapshot(self, snapshot: StatsSnapshot) -> None:
        params = {
            "computed_at": as_utc(snapshot.computed_at),
            "took": snapshot.took,
            "stats": snapshot.stats,
        }
        await self._rowcount(self._q["save_stats_snapshot"], params, idempotent=True)

    async def load_stats_snapshot(self) -> StatsSnapshot | None:
        found = await self._query(self._q["load_stats_snapshot"], {}, idempotent=True)
        if not found:
            return None
        row = found[0]
        return StatsSnapshot(row["computed_at"], float(row["took"]), str(row["stats"]))

    async def rescue_jobs(self, stale_before: datetime, now: datetime) -> list[RescuedJob]:
        params = {
            "stale_before": as_utc(stale_before),
            "now": as_utc(now),
            "channel": self.channel,
            "kept": self.attempts_kept,
        }
        found = await self._query(self._q["rescue_jobs"], params, idempotent=False)
        return [RescuedJob(r["id"], Status(r["status"])) for r in found]

    # -- queues ---------------------------------------------------------------
    async def pause_queue(self, name: str) -> None:
        params = {"name": name, "paused": True}
        await self._rowcount(self._q["set_queue_paused"], params, idempotent=True)

    async def resume_queue(self, name: str) -> None:
        async def work(conn: Conn) -> None:
            async with conn.transaction():
                await conn.execute(self._q["set_queue_paused"], {"name": name, "paused": False})
                await conn.execute(self._q["notify"], {"channel": self.channel})

        await self._with_conn(work, idempotent=True)

    async def clear_queue(self, name: str) -> int:
        return await self._rowcount(self._q["clear_queue"], {"name": name}, idempotent=False)

    async def list_queues(self) -> list[QueueInfo]:
        found = await self._query(self._q["list_queues"], {}, idempotent=True)
        return [QueueInfo(r["name"], r["size"], r["is_paused"]) for r in found]

    async def paused_queues(self) -> set[str]:
        found = await self._query(self._q["paused_queues"], {}, idempotent=True)
        return {r["name"] for r in found}

    # -- schedules ------------------------------------------------------------
    async def insert_schedule(self, schedule: Schedule) -> None:
        params = rows.schedule_params(schedule, utcnow())
        await self._rowcount(self._q["insert_schedule"], params, idempotent=False)

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        found = await self._query(self._q["get_schedule"], {"id": schedule_id}, idempotent=True)
        return rows.row_to_schedule(found[0]) if found else None

    async def list_schedules(self, schedule_filter: ScheduleFilter) -> tuple[list[Schedule], int]:
        conditions = ["true"]
        params: dict[str, Any] = {"limit": schedule_filter.limit, "offset": schedule_filter.offset}
        if schedule_filter.status is not None:
            conditions.append("status = %(status)s")
            params["status"] = schedule_filter.status.value
        if schedule_filter.tags:
            conditions.append("tags @> %(tags)s::text[]")
            params["tags"] = list(schedule_filter.tags)
        where = " AND ".join(conditions)
        page_sql = self._q["list_schedules"].replace("{where}", where)
        count_sql = self._q["count_schedules"].replace("{where}", where)

        async def work(conn: Conn) -> tuple[list[Schedule], int]:
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(page_sql, params)
                page = [rows.row_to_schedule(r) for r in await cur.fetchall()]
                await cur.execute(count_sql, params)
                total = (await cur.fetchone() or {"count": 0})["count"]
            return page, total

        return await self._with_conn(work, idempotent=True)

    async def update_schedule_fields(
        self, schedule: Schedule, fields: Collection[str]
    ) -> Schedule | None:
        encoded = rows.schedule_params(schedule, utcnow())
        params = schedule_change_params(schedule, fields, encoded)
        return await self._change_schedule(self._q["update_schedule_fields"], params)

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
            "next_run_at": rows.utc(next_run_at),
            "now": as_utc(now),
            "revision": revision,
        }
        return await self._change_schedule(self._q["set_schedule_status"], params)

    async def _change_schedule(self, query: str, params: dict[str, Any]) -> Schedule | None:
        """Apply a guarded change; None when the revision moved, an error when it is gone.

        Safe to repeat after a lost connection: the revision guard makes a repeat
        of a change that was applied write nothing."""

        async def work(conn: Conn) -> Schedule | None:
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(query, params)
                changed = await cur.fetchone()
                if changed is not None:
                    return rows.row_to_schedule(changed)
                await cur.execute(self._q["schedule_exists"], params)
                if await cur.fetchone() is None:
                    raise ScheduleNotFound(f"Schedule not found: {params['id']}")
                return None

        return await self._with_conn(work, idempotent=True)

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
            "occurrence": as_utc(occurrence),
            "next_run_at": rows.utc(next_run_at),
            "revision": revision,
        }
        return await self._rowcount(self._q["advance_schedule"], params, idempotent=True) > 0

    async def delete_schedule(self, schedule_id: str) -> bool:
        params = {"id": schedule_id}
        return await self._rowcount(self._q["delete_schedule"], params, idempotent=False) > 0

    async def due_schedules(self, now: datetime, limit: int) -> list[Schedule]:
        params = {"now": as_utc(now), "limit": max(limit, 0)}
        found = await self._query(self._q["due_schedules"], params, idempotent=True)
        return [rows.row_to_schedule(r) for r in found]

    async def fire_schedule(
        self,
        schedule_id: str,
        occurrence: datetime,
        job: Job,
        next_run_at: datetime | None,
        *,
        revision: int | None = None,
    ) -> bool:
        params = rows.job_row(job)
        params.update(
            schedule_id=schedule_id,
            occurrence=as_utc(occurrence),
            next_run_at=rows.utc(next_run_at),
            revision=revision,
            channel=self.channel,
        )
        try:
            found = await self._query(self._q["fire_schedule"], params, idempotent=True)
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateJob(f"A job with this id exists already: {job.id}") from exc
        return bool(found and found[0]["fired"])


def _jobs(description: Sequence[Any] | None, found: list[tuple[Any, ...]]) -> list[Job]:
    """The rows of a job read as Jobs, read by the names in the cursor's description."""
    if not found or description is None:
        return []
    return list(map(rows.job_reader(description).job, found))


def _duplicate(exc: psycopg.errors.UniqueViolation) -> DuplicateJob:
    return DuplicateJob(f"A job with this id exists already: {exc.diag.message_detail}")


def _minutes(rows: Sequence[Sequence[Any]]) -> list[MinuteCounts]:
    return [MinuteCounts(m, q, int(e), int(c), int(f)) for m, q, e, c, f in rows]


def _job_where(job_filter: JobFilter) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and parameters of a job list: fixed fragments, bound values."""
    conditions = ["true"]
    params: dict[str, Any] = {}
    if job_filter.queue_name is not None:
        conditions.append("queue_name = %(queue_name)s")
        params["queue_name"] = job_filter.queue_name
    if job_filter.statuses:
        conditions.append("status = ANY(%(statuses)s::text[])")
        params["statuses"] = [s.value for s in job_filter.statuses]
    if job_filter.priority is not None:
        conditions.append("priority = %(priority)s::int2")
        params["priority"] = job_filter.priority.rank
    if job_filter.tags:
        # The second condition lets the planner use jobs_tags_idx (tagged jobs only).
        conditions.append("tags @> %(tags)s::text[] AND tags <> '{}'")
        params["tags"] = list(job_filter.tags)
    if job_filter.worker_id is not None:
        conditions.append("worker_id = %(worker_id)s")
        params["worker_id"] = job_filter.worker_id
    if job_filter.task_name is not None:
        conditions.append("task_name = %(task_name)s")
        params["task_name"] = job_filter.task_name
    if job_filter.created_after is not None:
        conditions.append("created_at >= %(created_after)s")
        params["created_after"] = job_filter.created_after
    if job_filter.created_before is not None:
        conditions.append("created_at < %(created_before)s")
        params["created_before"] = job_filter.created_before
    return " AND ".join(conditions), params


def _worker(row: Row) -> WorkerRecord:
    return WorkerRecord(
        id=row["id"],
        hostname=row["hostname"],
        pid=row["pid"],
        queues=row["queues"],
        tasks=decode_tasks(row["tasks"]),
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
        gone_at=row["gone_at"],
        processed=row["processed"],
        failed=row["failed"],
        running_jobs=list(row["running_jobs"]),
    )
