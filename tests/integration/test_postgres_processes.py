"""Real `uno-jobs worker` processes on one PostgreSQL database: many workers, nothing lost.

Four workers drain 20,000 jobs, each run exactly once; workers killed with SIGKILL
over and over lose nothing and re-run only what they were running; a PostgreSQL
restart under running workers and an API server is survived without help. Each
test works in its own schema (named by the URL's ``?schema=``), dropped afterwards.
Side effects are counted in an O_APPEND log, one ``start``/``done`` line per run.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from worker_processes import Workers, all_done, count_status, system_on, worker_pool

from helpers import POSTGRES_URL, eventually, fresh_schema, skip_or_fail
from processes import free_port
from uno.jobs import JobSystem, Status
from uno.jobs.errors import StoreUnavailable
from uno.jobs.store.postgres import PostgresStore
from uno.jobs.system import JobRequest
from uno.jobs.worker import Worker

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

URL = POSTGRES_URL


def _accepting_connections() -> bool:
    try:
        with psycopg.connect(URL, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema name, dropped (CASCADE) after the test."""
    with fresh_schema("proc") as name:
        yield name


@pytest.fixture
def workers(tmp_path: Path, schema: str) -> Iterator[Workers]:
    """Worker processes pointed at the test's schema by the database URL alone."""
    with worker_pool(tmp_path) as pool:
        pool.url = f"{URL}?schema={schema}"
        yield pool


@pytest.fixture
async def system(workers: Workers) -> AsyncIterator[JobSystem]:
    async with system_on(workers.url) as jobs:
        yield jobs


async def enqueue(system: JobSystem, count: int, **kwargs: Any) -> None:
    """Bulk enqueue of ``record`` jobs k0..k{count-1}: a COPY per batch."""
    options = {k: kwargs.pop(k) for k in ("max_retries",) if k in kwargs}
    for start in range(0, count, 5000):
        await system.enqueue_many(
            [
                JobRequest("record", [f"k{i}"], dict(kwargs), **options)
                for i in range(start, min(count, start + 5000))
            ]
        )


async def started(workers: Workers, *processes: subprocess.Popen[str]) -> None:
    async def ready() -> bool:
        return all("started:" in workers.output(p) for p in processes)

    await eventually(ready, timeout=30, interval=0.05)


def stop(*processes: subprocess.Popen[str]) -> list[int]:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    return [process.wait(30) for process in processes]


async def completed_keys(schema: str) -> set[str]:
    """Keys of the jobs whose completion the database has recorded."""
    async with await psycopg.AsyncConnection.connect(URL) as conn:
        cur = await conn.execute(
            sql.SQL("SELECT args->>0 FROM {}.jobs WHERE status = 'completed'").format(
                sql.Identifier(schema)
            )
        )
        return {row[0] for row in await cur.fetchall()}


def test_schema_in_the_url_selects_the_stores_schema() -> None:
    store = PostgresStore(f"{URL}?schema=elsewhere")
    assert store.schema == "elsewhere"
    assert store.channel == "uno_jobs.elsewhere"
    assert "schema" not in store._conninfo
    assert PostgresStore(f"{URL}?schema=a", schema="b").schema == "b"
    assert PostgresStore(URL).schema == "uno_jobs"


@pytest.mark.slow
async def test_four_workers_drain_20000_jobs_each_exactly_once(
    workers: Workers, system: JobSystem
) -> None:
    total = 20_000
    env = {"UNO_JOBS_HEARTBEAT_INTERVAL": "1", "UNO_JOBS_RESCUE_AFTER": "30"}
    processes = [workers.start("--concurrency", "50", **env) for _ in range(4)]
    await started(workers, *processes)
    await enqueue(system, total)
    await eventually(all_done(system, total), timeout=60, interval=0.2)

    starts, dones = workers.counts("start"), workers.counts("done")
    assert len(starts) == total
    assert set(starts.values()) == {1}  # every side effect exactly once
    assert dones == starts
    assert await count_status(system, Status.PENDING) == 0
    assert await count_status(system, Status.RUNNING) == 0
    pids = {pid for _kind, _key, pid in workers.lines()}
    assert pids == {str(p.pid) for p in processes}  # all four took a share
    assert stop(*processes) == [0, 0, 0, 0]


@pytest.mark.slow
async def test_workers_killed_again_and_again_lose_nothing(
    workers: Workers, system: JobSystem, schema: str
) -> None:
    total, slots = 5000, 4
    env = {"UNO_JOBS_HEARTBEAT_INTERVAL": "0.5", "UNO_JOBS_RESCUE_AFTER": "2"}
    await enqueue(system, total, seconds=0.03, max_retries=100)
    live = [workers.start("--concurrency", "8", **env) for _ in range(slots)]
    await started(workers, *live)
    killed: set[str] = set()
    #: After each kill: what the database had recorded as completed, then the log's starts.
    snapshots: list[tuple[set[str], Counter[str]]] = []
    done = all_done(system, total)
    rng = random.Random(5)
    while not await done() and len(killed) < 8:
        await asyncio.sleep(rng.uniform(1.0, 1.5))  # the kill cadence, by design
        running = {pid for kind, _key, pid in workers.lines() if kind == "start"}
        victims = [i for i, p in enumerate(live) if str(p.pid) in running]
        if not victims:
            continue
        slot = rng.choice(victims)
        live[slot].send_signal(signal.SIGKILL)
        assert live[slot].wait(10) == -signal.SIGKILL
        killed.add(str(live[slot].pid))
        snapshots.append((await completed_keys(schema), workers.counts("start")))
        live[slot] = workers.start("--concurrency", "8", **env)
    await eventually(done, timeout=60, interval=0.2)

    lines = workers.lines()
    print(f"{len(killed)} kills, {sum(workers.counts('start').values()) - total} re-runs")
    starts, dones = workers.counts("start"), workers.counts("done")
    assert set(dones) == {f"k{i}" for i in range(total)}  # nothing lost
    assert len(killed) >= 3, "the workers should have been killed several times"
    by_killed = Counter(key for kind, key, pid in lines if kind == "start" and pid in killed)
    # A job runs again only for a run in a worker that was killed...
    assert all(n - 1 <= by_killed[key] for key, n in starts.items()), {
        key: n for key, n in starts.items() if n - 1 > by_killed[key]
    }
    assert any(n > 1 for n in starts.values()), "some kill should interrupt a running job"
    # ...and never once its completion had reached the database.
    for recorded, starts_then in snapshots:
        assert all(starts[key] == starts_then[key] for key in recorded)
    assert await count_status(system, Status.COMPLETED) == total
    await started(workers, *live)  # a SIGTERM before start-up would find no handler yet
    assert stop(*live) == [0] * slots


def _server_started_at() -> Any:
    with psycopg.connect(URL) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        return row[0] if row else None


def _restart_postgres() -> None:
    """Restart the local cluster, as an operator would; the caller waits for it to return."""
    clusters = Path("/etc/postgresql")
    versions = sorted((p.name for p in clusters.iterdir()), key=float) if clusters.is_dir() else []
    if not versions:
        skip_or_fail("no local PostgreSQL cluster to restart (pg_ctlcluster)")
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _start_api(workers: Workers, env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """`uno-jobs serve` with its embedded worker on the test's schema."""
    with open(workers.tmp_path / "serve.log", "w") as out:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "uno.jobs.cli", "serve", "--app", "tasks_for_tests"),
                *("--no-scheduler", "--concurrency", "4", "--port", str(port)),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _read_token(env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "uno.jobs.cli", "token", "--scope", "jobs:read"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.slow
async def test_workers_and_api_ride_out_a_postgres_restart(
    workers: Workers, system: JobSystem
) -> None:
    import httpx

    total = 3000
    env = {"UNO_JOBS_HEARTBEAT_INTERVAL": "0.5", "UNO_JOBS_RESCUE_AFTER": "15"}
    await enqueue(system, total, seconds=0.02, max_retries=5)
    processes = [workers.start("--concurrency", "8", **env) for _ in range(2)]
    port = free_port()
    api_env = {**workers.env(**env), "UNO_JOBS_JWT_SECRET": "restart-test-secret-32-bytes-long"}
    api = _start_api(workers, api_env, port)
    token = _read_token(api_env)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ) as client:

            async def api_answers() -> bool:
                try:
                    response = await client.get("/api/v1/jobs", params={"limit": 1})
                except httpx.TransportError:
                    return False
                return response.status_code == 200 and response.json()["total"] == total

            await eventually(api_answers, timeout=30, interval=0.1)
            await started(workers, *processes)

            async def some_done() -> bool:
                return await count_status(system, Status.COMPLETED) >= total // 5

            await eventually(some_done, timeout=30, interval=0.05)
            before = _server_started_at()
            assert await count_status(system, Status.COMPLETED) < total // 2, "restart too late"
            await asyncio.to_thread(_restart_postgres)

            async def accepting() -> bool:
                return await asyncio.to_thread(_accepting_connections)

            await eventually(accepting, timeout=30, interval=0.1)
            assert _server_started_at() != before  # the server did restart

            await eventually(all_done(system, total), timeout=40, interval=0.2)
            await eventually(api_answers, timeout=20, interval=0.1)
            response = await client.get("/api/v1/jobs", params={"status": "completed", "limit": 1})
            assert response.json()["total"] == total
    finally:
        api.send_signal(signal.SIGTERM)
        try:
            api.wait(30)
        except subprocess.TimeoutExpired:
            api.kill()
    starts, dones = workers.counts("start"), workers.counts("done")
    assert set(dones) == {f"k{i}" for i in range(total)}  # nothing lost
    twice = {key: n for key, n in starts.items() if n > 1}
    assert not twice, f"ran more than once: {twice}"
    assert stop(*processes) == [0, 0]


class LosesOneFetchAnswer(PostgresStore):
    """The server claims the jobs, then the connection drops before the answer arrives."""

    lost = False

    async def fetch_jobs(self, *args: Any, **kwargs: Any) -> list[Any]:
        found = await super().fetch_jobs(*args, **kwargs)
        if found and not self.lost:
            self.lost = True
            raise StoreUnavailable("PostgreSQL is unavailable: server closed the connection")
        return found


async def test_a_fetch_whose_answer_is_lost_leaves_no_job_behind(schema: str) -> None:
    """The jobs it claimed are reserved for a worker that is alive and beating, so no
    rescue would take them back: the worker hands them back itself once the store answers."""
    store = LosesOneFetchAnswer(URL, schema=schema)
    jobs = JobSystem(store=store)
    ran: list[int] = []

    @jobs.task(max_retries=0)
    async def note(n: int) -> None:
        ran.append(n)

    async with jobs:
        await jobs.enqueue_many([JobRequest("note", [n]) for n in range(5)])
        worker = Worker(jobs, concurrency=10, heartbeat_interval=0.05, rescue_after=60)
        running = asyncio.create_task(worker.run())

        async def all_ran() -> bool:
            return await count_status(jobs, Status.COMPLETED) == 5

        try:
            await eventually(all_ran, timeout=10)
        finally:
            await worker.stop()
            await running
    assert store.lost
    assert sorted(ran) == [0, 1, 2, 3, 4]
