"""CPU time a worker spends per job: a drain of no-op jobs, measured in process.

    python benchmarks/worker_cpu.py --store sqlite --jobs 10000 --runs 3

Each run is a child process: it enqueues ``--jobs`` no-op jobs of the benchmark's
app (``benchmarks.systems.uno_tasks``), then sets itself up as ``uno-jobs worker``
does (``load_system``: logging at ``--log-level`` to stderr, the settings from the
flags) with its stderr sent to a file, as the benchmark's worker log is, and runs
a ``Worker`` until no job is left (on uvloop where it is installed, as the command
does). It prints the process's CPU time (user and system, every thread) over the
drain alone, per job: CPU time, unlike wall time, is little moved by the other
processes of a shared machine. The database is the worker's too, so PostgreSQL's
own CPU is not counted (as in ``run.py``'s "worker CPU per 1,000 jobs").

Only what every version of ``uno.jobs`` since the benchmark began offers is used,
so that one driver measures any checkout: run it with that checkout's Python.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
APP = "benchmarks.systems.uno_tasks"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/"
ENQUEUE_CHUNK = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", default=None, help="text or json (default: the command's)")
    parser.add_argument(
        "--command",
        action="store_true",
        help="run `uno-jobs worker` as a child process, as run.py does (CPU from the "
        "first job start to the last, read from /proc)",
    )
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio_run(child(args))))
        return
    results = [one_run(args) for _ in range(args.runs)]
    per_job = [r["cpu_us_per_job"] for r in results]
    for r in results:
        print(json.dumps(r), flush=True)
    print(
        f"{args.store}: CPU us/job median {statistics.median(per_job):.1f} "
        f"(runs {', '.join(f'{v:.1f}' for v in per_job)})"
    )


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in a fresh process (nothing left over from the previous one)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="worker-cpu-") as work:
        argv = [sys.executable, __file__, "--child", work, *sys.argv[1:]]
        done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def asyncio_run(main: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def child(args: argparse.Namespace) -> dict[str, Any]:
    """One run, in ``args.child``: a folder the parent removes once this process has
    ended (the job recorder writes its last records at exit)."""
    work = Path(args.child)
    os.environ["BENCH_RECORD_DIR"] = str(work)
    os.environ["UNO_JOBS_DATA_DIR"] = str(work / "data")
    url, drop = database(args.store, work)
    try:
        await enqueue(url, args.jobs)
        if args.command:
            return await drain_command(args, url, work)
        return await drain(args, url, work / "worker.log")
    finally:
        drop()


def database(store: str, work: Path) -> tuple[str, Any]:
    """A new, empty database and the function that removes it."""
    if store == "sqlite":
        return f"sqlite:///{work / 'jobs.db'}", lambda: None
    import psycopg

    name = f"worker_cpu_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES + "postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(POSTGRES + "postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return POSTGRES + name, drop


async def enqueue(url: str, count: int) -> None:
    from benchmarks.systems.uno_tasks import jobs as app
    from uno.jobs import JobRequest, JobSystem

    system = JobSystem(url, registry=app.registry)
    await system.open()
    try:
        now = time.time()
        for start in range(0, count, ENQUEUE_CHUNK):
            size = min(ENQUEUE_CHUNK, count - start)
            await system.enqueue_many([JobRequest("noop", [now]) for _ in range(size)])
    finally:
        await system.close()


async def drain(args: argparse.Namespace, url: str, log_path: Path) -> dict[str, Any]:
    """Run a worker set up as ``uno-jobs worker`` sets it up until no job is left."""
    from uno.jobs.cli.options import load_system
    from uno.jobs.worker import Worker

    log_file = log_path.open("ab")
    saved_stderr = os.dup(2)
    os.dup2(log_file.fileno(), 2)  # the command's stderr: the worker's log file
    try:
        flags: dict[str, Any] = {"database_url": url, "concurrency": args.concurrency}
        if args.log_format is not None:
            flags["log_format"] = args.log_format
        system = load_system(APP, args.log_level, **flags)
        await system.open()
        runner = Worker(system)
        cpu, wall = time.process_time(), time.perf_counter()
        await runner.run(until_empty=True)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await system.close()
        for handler in logging.getLogger().handlers:
            handler.flush()
    finally:
        os.dup2(saved_stderr, 2)
        log_file.close()
    lines = sum(1 for _ in log_path.open("rb"))
    processed = int(runner.processed)
    if processed != args.jobs:
        raise RuntimeError(f"{processed} of {args.jobs} jobs run")
    return {
        "store": args.store,
        "jobs": processed,
        "cpu_us_per_job": round(cpu / processed * 1e6, 1),
        "jobs_per_s": round(processed / wall),
        "log_lines": lines,
    }


async def drain_command(args: argparse.Namespace, url: str, work: Path) -> dict[str, Any]:
    """``uno-jobs worker`` started as ``run.py`` starts it; its CPU from the first job
    start to the last (start-up left out), over the jobs that started in between."""
    from benchmarks.harness import Records, cpu_seconds

    command = Path(sys.executable).with_name("uno-jobs")
    argv = [str(command), "worker", "--app", APP, "--database", url]
    argv += ["--concurrency", str(args.concurrency), "--log-level", args.log_level]
    if args.log_format is not None:
        argv += ["--log-format", args.log_format]
    records = Records(work)
    log_path = work / "worker.log"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(  # noqa: ASYNC220 (started once, before the measurement)
            argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        group_cpu = lambda: cpu_seconds(lambda group, _name: group == proc.pid)  # noqa: E731
        first = await _records_reach(records, 1, proc, 0.01)
        cpu, wall = group_cpu(), time.perf_counter()
        await _records_reach(records, args.jobs, proc, 0.05)
        cpu, wall = group_cpu() - cpu, time.perf_counter() - wall
    finally:
        proc.terminate()
        proc.wait(30)
    counted = args.jobs - first
    return {
        "store": args.store,
        "jobs": counted,
        "cpu_us_per_job": round(cpu / counted * 1e6, 1),
        "jobs_per_s": round(counted / wall),
        "log_lines": sum(1 for _ in log_path.open("rb")),
    }


async def _records_reach(
    records: Any, count: int, proc: subprocess.Popen[bytes], step: float
) -> int:
    while (seen := records.poll()) < count:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}")
        await asyncio.sleep(step)
    return seen


if __name__ == "__main__":
    main()
