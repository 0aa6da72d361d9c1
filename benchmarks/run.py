"""Benchmark uno-jobs, and with ``--peers`` the installed peers, in one invocation.

    python benchmarks/run.py --quick             # uno-jobs only, 1,000 jobs, one run
    python benchmarks/run.py --peers --setting 10,50,best --uno-durable both   # make bench
    python benchmarks/run.py --peers --only uno_postgres,pgqueuer --concurrency 50

Every system runs under each ``--setting``: a number N gives every worker the
same N (uno-jobs ``--concurrency``, PgQueuer ``batch_size``, Procrastinate and
SAQ ``concurrency``, Huey worker threads, Celery threads, Dramatiq threads),
``default`` leaves each at its own default and ``best`` at the tuned setting
each system module names. Workloads per system, setting and run: single,
bulk and concurrent enqueue of ``--jobs`` jobs; drain of ``--jobs`` and of
``--big`` queued no-op jobs by one worker process; idle pickup latency with
jobs arriving at ``--rate`` per second; for uno-jobs the REST API; and for
PostgreSQL systems the drain by 1, 2 and 4 worker processes (``--scale``).
Runs are interleaved (run 1 of every system and setting, then run 2...) so
that drift in the machine's load touches every system alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if sys.path[1:2] == [str(Path(__file__).resolve().parent)]:
        del sys.path[1]

from benchmarks import harness
from benchmarks.harness import BenchError, Results, Workdir, log
from benchmarks.systems import ALL, PEERS, UNO, load
from benchmarks.systems.base import Context, ServerFacts, System, parse_setting
from benchmarks.systems.uno_common import DURABLE_ENV, UnoSystem, UnoVariant
from benchmarks.tables import SystemMeta, render

WORKLOADS = ("enqueue", "drain", "big", "latency", "api", "scale")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
T = TypeVar("T")


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as a pair (argparse type)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def variant(text: str) -> UnoVariant:
    """``NAME:KEY=VALUE,KEY=VALUE`` as an uno-jobs variant (argparse type)."""
    name, sep, rest = text.partition(":")
    if not sep or not name or "@" in name or "+" in name:
        raise argparse.ArgumentTypeError(f"expected NAME:KEY=VALUE[,KEY=VALUE], got {text!r}")
    return UnoVariant(name, tuple(key_value(kv) for kv in rest.split(",") if kv))


def settings(text: str) -> list[str]:
    """Comma-separated settings (argparse type)."""
    try:
        return [parse_setting(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_selection_args(parser)
    add_workload_args(parser)
    add_uno_args(parser)
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
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.big, args.runs, args.scale_jobs = 1_000, 5_000, 1, 2_000
        args.latency_seconds, args.api_seconds = 3.0, 3.0
    args.settings = list(dict.fromkeys(s for group in args.setting for s in group)) or ["10"]
    for url in (args.postgres, args.redis):
        if urlsplit(url).hostname not in LOCAL_HOSTS:
            parser.error(f"benchmarks only talk to 127.0.0.1, not {url}")
    return args


def add_selection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--peers", action="store_true", help="also run every installed peer")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these systems (repeat or comma-separate): {', '.join(ALL)}",
    )
    parser.add_argument(
        "--setting",
        "--settings",
        action="append",
        type=settings,
        default=[],
        metavar="S[,S]",
        help="N (every system at concurrency/batch N), 'default' or 'best'; a table each "
        "(default: 10, uno-jobs' default concurrency)",
    )
    parser.add_argument(
        "--concurrency",
        action="append",
        type=settings,
        dest="setting",
        metavar="N",
        help="the same as --setting N",
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per system and setting")


def add_workload_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per enqueue/drain")
    parser.add_argument("--big", type=int, default=50_000, help="jobs in the backlog drain")
    parser.add_argument("--producers", type=int, default=32, help="concurrent producers")
    parser.add_argument("--rate", type=float, default=100.0, help="arrivals/s for latency")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--api-seconds", type=float, default=10.0)
    parser.add_argument("--api-connections", type=int, default=64)
    parser.add_argument(
        "--scale",
        type=lambda t: [int(x) for x in t.split(",")],
        default=[1, 2, 4],
        metavar="P[,P]",
        help="worker processes of the scale-out drain (PostgreSQL systems)",
    )
    parser.add_argument("--scale-jobs", type=int, default=20_000, help="jobs per scale-out drain")
    parser.add_argument(
        "--scale-settings",
        type=settings,
        default=None,
        metavar="S[,S]",
        help="settings that get the scale-out drain (default: the first --setting)",
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=WORKLOADS, help="leave a workload out"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1,000 jobs, 5,000 backlog, 1 run, short latency and API phases",
    )


def add_uno_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--uno-env",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="environment for every uno-jobs worker and server (e.g. a prefetch setting)",
    )
    parser.add_argument(
        "--uno-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument to every `uno-jobs worker` (use --uno-arg=--flag)",
    )
    parser.add_argument(
        "--uno-variant",
        action="append",
        type=variant,
        default=[],
        metavar="NAME:KEY=VALUE[,...]",
        help="also run uno-jobs with this environment, as its own row (repeatable)",
    )
    parser.add_argument(
        "--uno-durable",
        choices=("default", "off", "on", "both"),
        default="default",
        help="uno-jobs rows with the store's own acknowledgements (default: durable on "
        "PostgreSQL, asynchronous on SQLite), asynchronous (off) and/or durable (on) ones",
    )
    parser.add_argument(
        "--uno-durable-env",
        default=DURABLE_ENV,
        metavar="KEY",
        help="the variable that makes uno-jobs' worker bookkeeping durable (set to 1/0)",
    )


@contextlib.contextmanager
def scoped_environ(env: dict[str, str]) -> Iterator[None]:
    """``env`` set for one system's run and taken back after it, so that a variant's
    settings (``--uno-variant``) never reach the systems run after it."""
    before = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def stop_on_sigterm() -> None:
    """SIGTERM cancels the run like Ctrl-C, so workers, databases and files are cleaned up."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def select(args: argparse.Namespace) -> list[str]:
    only = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    for name in only:
        if name not in ALL:
            raise SystemExit(f"unknown system {name!r}; known: {', '.join(ALL)}")
    if only:
        return [n for n in ALL if n in only]
    return list(UNO + PEERS) if args.peers else list(UNO)


def uno_variants(args: argparse.Namespace) -> list[UnoVariant]:
    """The uno-jobs configurations to run: durability modes, then ``--uno-variant``s."""
    common = tuple(args.uno_env)
    extra = tuple(args.uno_arg)
    modes: list[bool | None] = {
        "default": [None], "off": [False], "on": [True], "both": [False, True]
    }[args.uno_durable]  # fmt: skip
    found: list[UnoVariant] = []
    for durable in modes:
        flag = () if durable is None else ((args.uno_durable_env, "1" if durable else "0"),)
        name = ("durable" if durable else "async-acks") if args.uno_durable == "both" else ""
        found.append(UnoVariant(name, common + flag, extra))
    for v in args.uno_variant:
        found.append(UnoVariant(v.name, common + v.env, extra + v.worker_args))
    return found


def instances(classes: list[type[System]], ctx: Context, args: argparse.Namespace) -> list[System]:
    """Every system under every setting (and uno-jobs under every variant), in run order."""
    made: list[System] = []
    for setting in args.settings:
        for cls in classes:
            if issubclass(cls, UnoSystem):
                for v in uno_variants(args):
                    system = cls(ctx, setting, v)
                    system.durable_env = args.uno_durable_env
                    made.append(system)
            else:
                made.append(cls(ctx, setting))
    return made


def knob_read(name: str) -> bool:
    """Whether the installed uno-jobs mentions setting ``name`` anywhere in its code."""
    import uno.jobs

    root = Path(uno.jobs.__file__).parent
    return any(name in path.read_text(errors="replace") for path in root.rglob("*.py"))


Attempt = Callable[[str, Awaitable[Any]], Awaitable[Any]]


async def run_system(
    system: System, args: argparse.Namespace, results: Results, work: Workdir
) -> None:
    """Every workload not skipped, once; a failing workload is noted and the rest go on."""
    key = system.key
    skip = set(args.skip)

    async def attempt(label: str, coro: Awaitable[T]) -> T | None:
        try:
            return await coro
        except BenchError as exc:
            results.error(key, f"{label}: {exc}")
        except Exception as exc:
            results.error(key, f"{label}: {type(exc).__name__}: {exc}")
        log(f"  {key} {label} FAILED (see errors below)")
        return None

    if "enqueue" not in skip:
        await run_enqueues(system, args, results, attempt)
    await run_drains(system, args, results, work, attempt)
    if "latency" not in skip:
        await run_latency(system, args, results, work, attempt)
    if "api" not in skip and system.serves_api:
        api = await attempt(
            "api", system.api_benchmark(args.api_seconds, args.api_connections, args.jobs, work)
        )
        for metric, value in (api or {}).items():
            results.add(key, f"api_{metric}", value)
        if api:
            log(f"  {key} api req/s: " + ", ".join(f"{k} {v:,.0f}" for k, v in api.items()))
    if "scale" not in skip and system.backend == "postgres" and system.setting in args.scale_on:
        await run_scale(system, args, results, work, attempt)


async def run_drains(
    system: System, args: argparse.Namespace, results: Results, work: Workdir, attempt: Attempt
) -> None:
    key = system.key
    small: dict[str, float] | None = None
    if "drain" not in args.skip:
        small = await attempt("drain", harness.drain(system, args.jobs, work))
        record_drain(results, key, "drain", small, args.jobs)
    if "big" not in args.skip:
        big = await attempt("drain backlog", harness.drain(system, args.big, work))
        record_drain(results, key, "big", big, args.big)
        if big and small:
            results.add(key, "big_ratio", big["steady"] / small["steady"])


async def run_latency(
    system: System, args: argparse.Namespace, results: Results, work: Workdir, attempt: Attempt
) -> None:
    key = system.key
    lat = await attempt(
        "latency", harness.pickup_latency(system, args.rate, args.latency_seconds, work)
    )
    if lat:
        for p in ("p50", "p95", "p99"):
            results.add(key, f"latency_{p}", lat[p])
        results.add(key, "enqueue_call_p50", lat["enqueue_call_p50"])
        log(
            f"  {key} latency ms: p50 {lat['p50']:.2f} p95 {lat['p95']:.2f} "
            f"p99 {lat['p99']:.2f} max {lat['max']:.2f} "
            f"(enqueue call {lat['enqueue_call_p50']:.2f})"
        )


async def run_scale(
    system: System, args: argparse.Namespace, results: Results, work: Workdir, attempt: Attempt
) -> None:
    key = system.key
    for processes in args.scale:
        drained = await attempt(
            f"scale x{processes}",
            harness.drain(system, args.scale_jobs, work, processes=processes),
        )
        if drained:
            results.add(key, f"scale{processes}_steady", drained["steady"])
            results.add(key, f"scale{processes}_cpu", drained.get("cpu_per_1k"))
            results.add(key, f"scale{processes}_pg_cpu", drained.get("pg_cpu_per_1k"))
            log(f"  {key} {processes} worker processes: {drained['steady']:,.0f}/s steady")


async def run_enqueues(
    system: System, args: argparse.Namespace, results: Results, attempt: Attempt
) -> None:
    key = system.key
    single = await attempt("enqueue single", harness.enqueue_single(system, args.jobs))
    results.add(key, "enqueue_single", single)
    bulk = await attempt("enqueue bulk", harness.enqueue_bulk(system, args.jobs))
    results.add(key, "enqueue_bulk", bulk)
    many = await attempt(
        "enqueue concurrent", harness.enqueue_concurrent(system, args.jobs, args.producers)
    )
    results.add(key, "enqueue_concurrent", many)
    log(
        f"  {key} enqueue/s: single {harness.fmt(single, 'jobs/s')}, "
        f"bulk {harness.fmt(bulk, 'jobs/s')}, {args.producers} producers "
        f"{harness.fmt(many, 'jobs/s')}"
    )


def record_drain(
    results: Results, key: str, prefix: str, drained: dict[str, float] | None, n: int
) -> None:
    if not drained:
        return
    results.add(key, f"{prefix}_total", drained["total"])
    results.add(key, f"{prefix}_steady", drained["steady"])
    results.add(key, f"{prefix}_cpu", drained.get("cpu_per_1k"))
    results.add(key, f"{prefix}_pg_cpu", drained.get("pg_cpu_per_1k"))
    if prefix == "drain":
        results.add(key, "startup", drained["startup"])
    log(
        f"  {key} drain {n}: {drained['total']:,.0f}/s incl. start-up, "
        f"{drained['steady']:,.0f}/s steady, worker CPU "
        f"{harness.fmt(drained.get('cpu_per_1k'), 'ms')} ms/1k jobs"
    )


def sizes(args: argparse.Namespace) -> dict[str, Any]:
    """What the report's titles and method line need to know about the workloads."""
    return {
        "jobs": f"{args.jobs:,}",
        "big": f"{args.big:,}",
        "producers": args.producers,
        "connections": args.api_connections,
        "runs": args.runs,
        "scale": args.scale,
        "scale_jobs": args.scale_jobs,
        "workloads": (
            f"Enqueue and drain {args.jobs:,} no-op jobs, backlog {args.big:,}; one worker "
            f"process; pickup latency at {args.rate:g} jobs/s for {args.latency_seconds:g} s; "
            f"{args.producers} producers are asyncio tasks (threads for synchronous clients); "
            "drain steady is the rate between the 10th and 90th percentile job starts."
        ),
    }


def notes_for(systems: list[System], args: argparse.Namespace) -> list[str]:
    notes = []
    if "best" in args.settings:
        seen: dict[str, str] = {}
        for s in systems:
            seen.setdefault(s.label, s.best_reason)
        notes += [f"`best` for {label}: {why}" for label, why in seen.items()]
    if args.uno_durable != "default" and not knob_read(args.uno_durable_env):
        notes.append(
            f"WARNING: this uno-jobs never reads {args.uno_durable_env}; its durable and "
            "asynchronous rows measure the same code"
        )
    return notes


async def main_async(args: argparse.Namespace) -> int:
    stop_on_sigterm()
    classes: list[type[System]] = []
    for name in select(args):
        cls = load(name)
        why = cls.missing()
        if why:
            log(f"skipping {name}: {why}")
            continue
        classes.append(cls)
    if not classes:
        log("nothing to run")
        return 1
    args.scale_on = args.scale_settings or args.settings[:1]
    tag = f"{int(time.time()) % 100_000}"
    root = Path(tempfile.mkdtemp(prefix="uno-bench-"))
    ctx = Context(workdir=root, postgres_url=args.postgres, redis_url=args.redis, tag=tag)
    systems = instances(classes, ctx, args)
    facts = harness.server_facts(args.postgres, args.redis)
    machine = machine_of(systems, args, facts)
    log(harness.render_machine(machine))
    notes = notes_for(systems, args)
    for note in notes:
        log(note)
    metas = [meta(s, facts, args) for s in systems]
    results = Results()
    work = Workdir(root)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    try:
        for run in range(1, args.runs + 1):
            for system in systems:
                log(f"run {run}/{args.runs}: {system.display}")
                with scoped_environ(system.env()):
                    try:
                        await run_system(system, args, results, work)
                    finally:
                        await system.close()
                save(saved, machine, args, metas, notes, results)
    finally:
        await destroy(systems)
        if args.keep:
            log(f"logs and records kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    machine["load_average_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    save(saved, machine, args, metas, notes, results)
    text = render(results, metas, args.settings, sizes(args), machine, notes)
    print(text)
    saved.with_suffix(".md").write_text(text)
    log(f"results written to {saved} and {saved.with_suffix('.md')}")
    return 0


def machine_of(
    systems: list[System], args: argparse.Namespace, facts: ServerFacts
) -> dict[str, Any]:
    dists = ["uno-jobs", "psycopg", "asyncpg", "redis", "uvloop"]
    for s in systems:
        dists += [d for d in s.distributions if d not in dists]
    machine = harness.machine_info(args.postgres, args.redis, dists)
    machine["durability"] = (
        f"PostgreSQL synchronous_commit={facts.pg_synchronous_commit}, fsync={facts.pg_fsync}; "
        f"Redis appendonly={facts.redis_appendonly}, appendfsync={facts.redis_appendfsync}, "
        f"save='{facts.redis_save}'"
    )
    return machine


def meta(system: System, facts: ServerFacts, args: argparse.Namespace) -> SystemMeta:
    durability = system.durability(facts)
    if (
        isinstance(system, UnoSystem)
        and system.variant.durable_acks(args.uno_durable_env)
        and not knob_read(args.uno_durable_env)
    ):
        durability = f"NOT APPLIED: this uno-jobs never reads {args.uno_durable_env}"
    return SystemMeta(
        key=system.key,
        name=system.name,
        display=system.display,
        setting=system.setting,
        backend=system.backend,
        is_uno=system.is_uno,
        durability=durability,
        worker_config=system.worker_config,
    )


async def destroy(systems: list[System]) -> None:
    done: set[str] = set()
    for system in systems:
        if system.name in done:
            continue
        done.add(system.name)
        try:
            await system.destroy()
        except Exception as exc:
            log(f"cleanup of {system.name} failed: {exc}")


def save(
    path: Path,
    machine: dict[str, object],
    args: argparse.Namespace,
    metas: list[SystemMeta],
    notes: list[str],
    results: Results,
) -> None:
    """Write what is known so far, so that an interrupted run keeps its figures."""
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "report")}
    data = {
        "machine": machine,
        "args": settings,
        "systems": [m.to_json() for m in metas],
        "notes": notes,
        **results.to_json(),
    }
    path.write_text(json.dumps(data, indent=1, default=str))


def rerender(path: Path) -> int:
    """Print the report of a saved JSON result (``--report FILE``)."""
    data = json.loads(path.read_text())
    args = argparse.Namespace(**data["args"])
    results = Results(samples=data["samples"], errors=data["errors"])
    metas = [SystemMeta(**m) for m in data["systems"]]
    print(render(results, metas, args.settings, sizes(args), data["machine"], data["notes"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return rerender(args.report)
    try:
        return asyncio.run(main_async(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        log("interrupted: workers stopped, databases and files removed")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
