"""CPU time per enqueued job, in process: the client's and the PostgreSQL backend's.

Wall-clock rates move with whatever else the machine runs; the CPU time a job costs
does much less, so this is the figure to compare between two versions of uno-jobs
(run it with each version's interpreter) and against PgQueuer. Four ways of
enqueuing, as ``benchmarks/run.py`` drives them: one awaited call after another,
bulk calls of 1,000 and of 10,000 jobs, and 32 asyncio producers at once.

The client's CPU is this process's (``time.process_time``); the server's is the
user and system time of the PostgreSQL backends serving it, read from
``/proc/<pid>/stat`` (so only when PostgreSQL runs on this machine).

    python benchmarks/enqueue_cpu.py --systems uno_postgres,uno_sqlite,pgqueuer --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

PG = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
APP_NAME = "enqcpu"
TICK = os.sysconf("SC_CLK_TCK")
MODES = ("single", "bulk1000", "bulk10000", "producers32")


def backend_cpu(pids: list[int]) -> dict[int, float]:
    """Seconds of CPU each backend has used (user + system)."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return seconds


async def backend_pids(app_name: str) -> list[int]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(PG, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s", [app_name + "%"]
        )
        return [row[0] for row in await cur.fetchall()]


class Target:
    """One system under test: ``open``/``close`` around each measurement."""

    app_name = ""

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def one(self) -> None:
        raise NotImplementedError

    async def concurrent(self) -> None:
        await self.one()

    async def bulk(self, size: int) -> None:
        raise NotImplementedError


class Uno(Target):
    def __init__(self, url: str, app_name: str = "") -> None:
        self.url = url
        self.app_name = app_name
        self.jobs: Any = None

    async def open(self) -> None:
        from uno.jobs import JobSystem

        self.jobs = JobSystem(self.url)

        @self.jobs.task(name="noop", max_retries=0)
        async def noop(t: float) -> None:
            """Never run here."""

        await self.jobs.open()

    async def close(self) -> None:
        await self.jobs.close()

    async def one(self) -> None:
        await self.jobs.enqueue("noop", [time.time()])

    async def bulk(self, size: int) -> None:
        from uno.jobs import JobRequest

        stamp = time.time()
        await self.jobs.enqueue_many([JobRequest("noop", [stamp]) for _ in range(size)])


class UnoPostgres(Uno):
    def __init__(self) -> None:
        self.schema = f"enqcpu_{os.getpid()}"
        super().__init__(f"{PG}?schema={self.schema}", f"uno-jobs {self.schema}")

    async def close(self) -> None:
        import psycopg

        await super().close()
        async with await psycopg.AsyncConnection.connect(PG, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


class UnoSqlite(Uno):
    def __init__(self) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="enqcpu")
        super().__init__(f"sqlite:///{self.directory.name}/jobs.db")

    async def close(self) -> None:
        await super().close()
        await asyncio.to_thread(self._wipe)

    def _wipe(self) -> None:
        for path in Path(self.directory.name).iterdir():
            path.unlink()


class PgQueuer(Target):
    """PgQueuer as ``benchmarks/systems/pgqueuer.py`` drives it, in a database of its own."""

    app_name = f"{APP_NAME} pgqueuer"

    def __init__(self) -> None:
        self.database = f"enqcpu_pgq_{os.getpid()}"
        self.conn: Any = None
        self.pool: Any = None

    def _url(self) -> str:
        return PG.rsplit("/", 1)[0] + "/" + self.database

    async def open(self) -> None:
        import asyncpg
        import psycopg
        from pgqueuer import AsyncpgDriver, AsyncpgPoolDriver, Queries

        async with await psycopg.AsyncConnection.connect(PG, autocommit=True) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            await conn.execute(f'CREATE DATABASE "{self.database}"')
        settings = {"application_name": self.app_name}
        self.conn = await asyncpg.connect(self._url(), server_settings=settings)
        self.queries = Queries(AsyncpgDriver(self.conn))
        await self.queries.install()
        self.pool = await asyncpg.create_pool(
            self._url(), min_size=1, max_size=10, server_settings=settings
        )
        self.pool_queries = Queries(AsyncpgPoolDriver(self.pool))

    async def close(self) -> None:
        import psycopg

        await self.conn.close()
        await self.pool.close()
        async with await psycopg.AsyncConnection.connect(PG, autocommit=True) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}"')

    async def one(self) -> None:
        await self.queries.enqueue("noop", repr(time.time()).encode())

    async def concurrent(self) -> None:
        await self.pool_queries.enqueue("noop", repr(time.time()).encode())

    async def bulk(self, size: int) -> None:
        stamp = repr(time.time()).encode()
        await self.queries.enqueue(["noop"] * size, [stamp] * size, [0] * size)


TARGETS: dict[str, Callable[[], Target]] = {
    "uno_postgres": UnoPostgres,
    "uno_sqlite": UnoSqlite,
    "pgqueuer": PgQueuer,
}


async def workload(target: Target, mode: str, jobs: int) -> Callable[[], Awaitable[int]]:
    """The timed part of ``mode``: it returns how many jobs it enqueued."""
    if mode == "single":

        async def single() -> int:
            for _ in range(jobs):
                await target.one()
            return jobs

        return single
    if mode.startswith("bulk"):
        size = int(mode.removeprefix("bulk"))

        async def bulk() -> int:
            calls = max(1, jobs // size)
            for _ in range(calls):
                await target.bulk(size)
            return calls * size

        return bulk

    async def producers() -> int:
        share = jobs // 32

        async def produce() -> None:
            for _ in range(share):
                await target.concurrent()

        await asyncio.gather(*(produce() for _ in range(32)))
        return share * 32

    await target.concurrent()  # opens what the producers share
    return producers


async def measure(name: str, mode: str, jobs: int) -> dict[str, float]:
    target = TARGETS[name]()
    await target.open()
    try:
        run = await workload(target, mode, jobs)
        pids = await backend_pids(target.app_name) if target.app_name else []
        server_before = backend_cpu(pids)
        cpu, wall = time.process_time(), time.perf_counter()
        done = await run()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        pids = await backend_pids(target.app_name) if target.app_name else []
        server_after = backend_cpu(pids)
    finally:
        await target.close()
    server = sum(after - server_before.get(pid, 0.0) for pid, after in server_after.items())
    return {
        "client_us": cpu / done * 1e6,
        "server_us": server / done * 1e6,
        "rate": done / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", default="uno_postgres,uno_sqlite")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per single/producers run")
    parser.add_argument("--bulk-jobs", type=int, default=20_000, help="jobs per bulk run")
    parser.add_argument("--json", action="store_true", help="print one JSON object per result")
    args = parser.parse_args()
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.runs):
        for name in args.systems.split(","):
            for mode in args.modes.split(","):
                jobs = args.bulk_jobs if mode.startswith("bulk") else args.jobs
                result = asyncio.run(measure(name, mode, jobs))
                results.setdefault((name, mode), []).append(result)
                if args.json:
                    print(json.dumps({"system": name, "mode": mode, **result}), flush=True)
    print(f"{'system':14} {'mode':12} {'client us/job':>22} {'server us/job':>20} {'jobs/s':>18}")
    for (name, mode), runs in results.items():
        cells = []
        for key in ("client_us", "server_us", "rate"):
            values = [r[key] for r in runs]
            low, mid, high = min(values), statistics.median(values), max(values)
            cells.append(f"{mid:8.1f} ({low:.0f}-{high:.0f})")
        print(f"{name:14} {mode:12} {cells[0]:>22} {cells[1]:>20} {cells[2]:>18}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
