"""Benchmark uno-jobs, and with ``--peers`` the installed peers, in one invocation.

    python benchmarks/run.py --quick             # uno-jobs only, 1,000 jobs, one run
    python benchmarks/run.py --peers             # the full comparison (make bench)
    python benchmarks/run.py --peers --only huey_redis --only uno_postgres

Workloads per system and run: single enqueue and bulk enqueue of ``--jobs``
jobs; drain of ``--jobs`` and of ``--big`` queued no-op jobs by one worker
process; idle pickup latency with jobs arriving at ``--rate`` per second; and,
for uno-jobs, ``POST``/``GET /api/v1/jobs`` against a running server. Runs are
interleaved (run 1 of every system, then run 2...) so that drift in the
machine's load touches every system alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if sys.path[1:2] == [str(Path(__file__).resolve().parent)]:
        del sys.path[1]

from benchmarks import harness
from benchmarks.harness import BenchError, Metric, Results, Workdir, log
from benchmarks.systems import ALL, PEERS, UNO, load
from benchmarks.systems.base import Context, System

METRICS = [
    Metric("enqueue_single", "Enqueue, one job a call", "jobs/s"),
    Metric("enqueue_bulk", "Enqueue, bulk call", "jobs/s"),
    Metric("drain_total", "Drain {jobs}, incl. start-up", "jobs/s"),
    Metric("drain_steady", "Drain {jobs}, steady", "jobs/s"),
    Metric("big_total", "Drain {big}, incl. start-up", "jobs/s"),
    Metric("big_steady", "Drain {big}, steady", "jobs/s"),
    Metric("big_ratio", "Drain {big} steady / {jobs} steady", "x"),
    Metric("startup", "Worker start-up to first job", "s", higher_is_better=False),
    Metric("latency_p50", "Idle pickup latency p50", "ms", higher_is_better=False),
    Metric("latency_p95", "Idle pickup latency p95", "ms", higher_is_better=False),
    Metric("latency_p99", "Idle pickup latency p99", "ms", higher_is_better=False),
    Metric("enqueue_call_p50", "Enqueue call during latency phase, p50", "ms", False),
    Metric("api_post", "POST /api/v1/jobs", "req/s"),
    Metric("api_get", "GET /api/v1/jobs?limit=10", "req/s"),
]
WORKLOADS = ("enqueue", "drain", "big", "latency", "api")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
T = TypeVar("T")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", action="store_true", help="also run every installed peer")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these systems (repeat or comma-separate): {', '.join(ALL)}",
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per enqueue/drain")
    parser.add_argument("--big", type=int, default=50_000, help="jobs in the backlog drain")
    parser.add_argument("--runs", type=int, default=3, help="runs per system (medians)")
    parser.add_argument("--rate", type=float, default=100.0, help="arrivals/s for latency")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--api-seconds", type=float, default=10.0)
    parser.add_argument("--api-connections", type=int, default=64)
    parser.add_argument(
        "--skip", action="append", default=[], choices=WORKLOADS, help="leave a workload out"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1,000 jobs, 5,000 backlog, 1 run, short latency and API phases",
    )
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/test", metavar="URL"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15", metavar="URL")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="folder for the JSON and Markdown results",
    )
    parser.add_argument("--keep", action="store_true", help="keep worker logs and records")
    parser.add_argument(
        "--report", type=Path, metavar="JSON", help="print the report of a saved result and exit"
    )
    parser.add_argument("--markdown", action="store_true", help="with --report: Markdown tables")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.big, args.runs = 1_000, 5_000, 1
        args.latency_seconds, args.api_seconds = 3.0, 3.0
    for url in (args.postgres, args.redis):
        if urlsplit(url).hostname not in LOCAL_HOSTS:
            parser.error(f"benchmarks only talk to 127.0.0.1, not {url}")
    return args


def select(args: argparse.Namespace) -> list[str]:
    only = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    for name in only:
        if name not in ALL:
            raise SystemExit(f"unknown system {name!r}; known: {', '.join(ALL)}")
    if only:
        return [n for n in ALL if n in only]
    return list(UNO + PEERS) if args.peers else list(UNO)


async def run_system(
    system: System, args: argparse.Namespace, results: Results, work: Workdir
) -> None:
    name = system.name
    skip = set(args.skip)

    async def attempt(label: str, coro: Awaitable[T]) -> T | None:
        try:
            return await coro
        except BenchError as exc:
            results.error(name, f"{label}: {exc}")
        except Exception as exc:
            results.error(name, f"{label}: {type(exc).__name__}: {exc}")
        log(f"  {name} {label} FAILED (see errors below)")
        return None

    if "enqueue" not in skip:
        single = await attempt("enqueue single", harness.enqueue_single(system, args.jobs))
        results.add(name, "enqueue_single", single)
        bulk = await attempt("enqueue bulk", harness.enqueue_bulk(system, args.jobs))
        results.add(name, "enqueue_bulk", bulk)
        log(
            f"  {name} enqueue: single {harness.fmt(single, 'jobs/s')}/s, "
            f"bulk {harness.fmt(bulk, 'jobs/s')}/s"
        )
    small: dict[str, float] | None = None
    if "drain" not in skip:
        small = await attempt("drain", harness.drain(system, args.jobs, work))
        if small:
            results.add(name, "drain_total", small["total"])
            results.add(name, "drain_steady", small["steady"])
            results.add(name, "startup", small["startup"])
            log(
                f"  {name} drain {args.jobs}: {small['total']:,.0f}/s incl. start-up, "
                f"{small['steady']:,.0f}/s steady"
            )
    if "big" not in skip:
        big = await attempt("drain backlog", harness.drain(system, args.big, work))
        if big:
            results.add(name, "big_total", big["total"])
            results.add(name, "big_steady", big["steady"])
            if small:
                results.add(name, "big_ratio", big["steady"] / small["steady"])
            log(
                f"  {name} drain {args.big}: {big['total']:,.0f}/s incl. start-up, "
                f"{big['steady']:,.0f}/s steady"
            )
    if "latency" not in skip:
        lat = await attempt(
            "latency", harness.pickup_latency(system, args.rate, args.latency_seconds, work)
        )
        if lat:
            for p in ("p50", "p95", "p99"):
                results.add(name, f"latency_{p}", lat[p])
            results.add(name, "enqueue_call_p50", lat["enqueue_call_p50"])
            log(
                f"  {name} latency ms: p50 {lat['p50']:.2f} p95 {lat['p95']:.2f} "
                f"p99 {lat['p99']:.2f} max {lat['max']:.2f} "
                f"(enqueue call {lat['enqueue_call_p50']:.2f})"
            )
    if "api" not in skip and system.serves_api:
        api = await attempt(
            "api", system.api_benchmark(args.api_seconds, args.api_connections, args.jobs, work)
        )
        if api:
            results.add(name, "api_post", api["post"])
            results.add(name, "api_get", api["get"])
            log(f"  {name} api: POST {api['post']:,.0f}/s, GET {api['get']:,.0f}/s")


def targets(results: Results) -> list[str]:
    """The issue's targets, read from the medians."""
    med = results.median
    lines: list[str] = []

    def check(label: str, value: float | None, goal: float | None, higher: bool = True) -> None:
        if value is None or goal is None:
            lines.append(f"[n/a]   {label}")
            return
        ok = value >= goal if higher else value <= goal
        lines.append(f"[{'met' if ok else 'UNMET'}] {label}: {value:,.2f} vs {goal:,.2f}")

    def best(names: tuple[str, ...], metric: str) -> float | None:
        values = [v for n in names if (v := med(n, metric)) is not None]
        return max(values) if values else None

    for metric in ("drain_steady", "drain_total"):
        fastest = best(("pgqueuer", "procrastinate"), metric)
        check(
            f"{metric}: uno_postgres >= 2x fastest PostgreSQL peer",
            med("uno_postgres", metric),
            2 * fastest if fastest else None,
        )
        huey = med("huey_sqlite", metric)
        check(
            f"{metric}: uno_sqlite >= 3x huey_sqlite",
            med("uno_sqlite", metric),
            3 * huey if huey else None,
        )
    pgq = med("pgqueuer", "enqueue_bulk")
    for name in UNO:
        check(
            f"enqueue_bulk: {name} >= 2x pgqueuer",
            med(name, "enqueue_bulk"),
            2 * pgq if pgq else None,
        )
    for name in UNO:
        check(f"latency p50: {name} <= 1.5 ms", med(name, "latency_p50"), 1.5, higher=False)
        check(f"latency p99: {name} <= 3 ms", med(name, "latency_p99"), 3.0, higher=False)
        check(f"backlog: {name} {'big'} steady >= 0.8x small steady", med(name, "big_ratio"), 0.8)
        check(f"api: {name} POST >= 2,000/s", med(name, "api_post"), 2000.0)
    return lines


def report(
    results: Results,
    systems: list[type[System]],
    args: argparse.Namespace,
    machine: dict[str, object],
    markdown: bool,
) -> str:
    metrics = [
        Metric(
            m.key,
            m.title.format(jobs=f"{args.jobs:,}", big=f"{args.big:,}"),
            m.unit,
            m.higher_is_better,
        )
        for m in METRICS
    ]
    pairs = [(s.name, s.label) for s in systems]
    uno = [s.name for s in systems if s.is_uno]
    parts = [
        harness.render_machine(machine),
        f"runs: {args.runs} per system; {args.jobs:,} jobs, backlog {args.big:,}, "
        f"latency at {args.rate:g}/s for {args.latency_seconds:g} s; medians with min-max",
        "ratio columns: uno-jobs median / peer median (for latency and start-up lower is "
        "better, so below 1 means uno-jobs is faster)",
        "",
        "workers:",
        *[f"  {s.label}: {s.worker_config}" for s in systems],
        "",
        harness.render_table(results, metrics, pairs, uno, markdown=markdown),
        "targets:",
        *[f"  {line}" for line in targets(results)],
    ]
    if results.errors:
        parts += ["", "errors:"]
        for name, errors in results.errors.items():
            parts += [f"  {name}: {e}" for e in errors]
    return "\n".join(parts)


async def main_async(args: argparse.Namespace) -> int:
    names = select(args)
    classes: list[type[System]] = []
    for name in names:
        cls = load(name)
        why = cls.missing()
        if why:
            log(f"skipping {name}: {why}")
            continue
        classes.append(cls)
    if not classes:
        log("nothing to run")
        return 1
    tag = f"{int(time.time()) % 100_000}"
    root = Path(tempfile.mkdtemp(prefix="uno-bench-"))
    ctx = Context(workdir=root, postgres_url=args.postgres, redis_url=args.redis, tag=tag)
    systems = [cls(ctx) for cls in classes]
    dists = ["uno-jobs", "psycopg", "asyncpg", "redis", "uvloop"]
    for s in systems:
        dists += [d for d in s.distributions if d not in dists]
    machine = harness.machine_info(args.postgres, args.redis, dists)
    log(harness.render_machine(machine))
    results = Results()
    work = Workdir(root)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    try:
        for run in range(1, args.runs + 1):
            for system in systems:
                log(f"run {run}/{args.runs}: {system.label}")
                os.environ.update(system.env())
                try:
                    await run_system(system, args, results, work)
                finally:
                    await system.close()
                save(saved, machine, args, names, results)
    finally:
        for system in systems:
            try:
                await system.destroy()
            except Exception as exc:
                log(f"cleanup of {system.name} failed: {exc}")
        if args.keep:
            log(f"logs and records kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    machine["load_average_end"] = harness.machine_info(args.postgres, args.redis, [])[
        "load_average"
    ]
    save(saved, machine, args, names, results)
    print(report(results, classes, args, machine, markdown=False))
    saved.with_suffix(".md").write_text(report(results, classes, args, machine, markdown=True))
    log(f"results written to {saved} and {saved.with_suffix('.md')}")
    return 0


def save(
    path: Path,
    machine: dict[str, object],
    args: argparse.Namespace,
    names: list[str],
    results: Results,
) -> None:
    """Write what is known so far, so that an interrupted run keeps its figures."""
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "report")}
    data = {"machine": machine, "args": settings, "systems": names, **results.to_json()}
    path.write_text(json.dumps(data, indent=1, default=str))


def rerender(path: Path, markdown: bool) -> int:
    """Print the report of a saved JSON result (``--report FILE``)."""
    data = json.loads(path.read_text())
    args = argparse.Namespace(**data["args"])
    results = Results(samples=data["samples"], errors=data["errors"], notes=data.get("notes", {}))
    classes = [load(n) for n in data["systems"] if n in results.samples or n in results.errors]
    print(report(results, classes, args, data["machine"], markdown=markdown))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return rerender(args.report, args.markdown)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
