"""Drain and pickup latency with PostgreSQL behind an added round trip (`make bench-network`).

    python benchmarks/network.py                      # uno-jobs and PgQueuer, local/0/1/5 ms
    python benchmarks/network.py --delays 1 --runs 1 --jobs 300 --latency-seconds 2

Needs root. The benchmark makes a network namespace ``unobench`` joined to
this one by a veth pair (10.213.7.1 here, 10.213.7.2 inside) and runs the
worker processes inside it, so every byte between a worker and PostgreSQL
crosses a real network device. PostgreSQL listens only on 127.0.0.1 and is
shared, so rather than change its ``listen_addresses`` (a restart) a
forwarder on 10.213.7.1:15432 leads to it. The delay itself: ``tc netem``
on both veth ends when the kernel has ``sch_netem``; else (this machine's
kernel is built without it) the forwarder holds each chunk half the round trip
in each direction (``benchmarks/netdelay.py``). Every path's round trip is
measured (``SELECT 1`` from inside the namespace) and printed beside the
figures. The ``local`` path is the plain one, the worker on 127.0.0.1; the
``+0 ms`` path goes through the namespace and forwarder with no delay, which
shows what the path itself costs. The producer (the harness) stays next to
PostgreSQL: pickup latency is that of a remote worker. Everything is torn
down at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if sys.path[1:2] == [str(Path(__file__).resolve().parent)]:
        del sys.path[1]

from benchmarks import harness
from benchmarks.harness import BenchError, Results, Workdir, log
from benchmarks.run import (
    LOCAL_HOSTS,
    add_uno_args,
    destroy,
    instances,
    machine_of,
    settings,
    stop_on_sigterm,
)
from benchmarks.systems import ALL, load
from benchmarks.systems.base import Context, System
from benchmarks.tables import cell, grid

NAMESPACE = "unobench"
HOST_DEV, NS_DEV = "unobench0", "unobench1"
HOST_IP, NS_IP = "10.213.7.1", "10.213.7.2"
FORWARD_PORT = 15432
LOCAL = "local"


@dataclass(frozen=True, slots=True)
class NetPath:
    """One way from a worker to PostgreSQL: ``local``, or the namespace plus ``delay_ms``."""

    name: str
    delay_ms: float | None  # None: local

    @property
    def label(self) -> str:
        return "local (127.0.0.1)" if self.delay_ms is None else f"+{self.delay_ms:g} ms"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--delays",
        default="0,1,5",
        help="added round trips in ms, comma-separated; the local path always runs too",
    )
    parser.add_argument("--only", default="uno_postgres,pgqueuer", metavar="NAME[,NAME]")
    parser.add_argument(
        "--setting", type=settings, default=["default"], metavar="S[,S]", help="as in run.py"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per drain")
    parser.add_argument("--rate", type=float, default=100.0, help="arrivals/s for latency")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/test", metavar="URL"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15", metavar="URL")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results", metavar="DIR"
    )
    parser.add_argument("--keep", action="store_true", help="keep worker logs and records")
    add_uno_args(parser)
    args = parser.parse_args(argv)
    args.settings = args.setting
    args.delay_list = [float(d) for d in args.delays.split(",") if d.strip()]
    if any(d < 0 for d in args.delay_list):
        parser.error("delays are zero or more milliseconds")
    if args.postgres.split("@")[-1].split(":")[0].split("/")[-1] not in LOCAL_HOSTS:
        parser.error("the network benchmark forwards to a PostgreSQL on 127.0.0.1 only")
    return args


# -- the namespace ------------------------------------------------------------------
def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def in_ns(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", NAMESPACE, *argv, check=check)


def ensure_tools() -> None:
    """Root, and ``ip``/``tc`` (iproute2, installed with apt-get when missing)."""
    if os.geteuid() != 0:
        raise SystemExit("the network benchmark needs root (network namespaces, veth)")
    if shutil.which("ip") and shutil.which("tc"):
        return
    if not shutil.which("apt-get"):
        raise SystemExit("iproute2 (ip, tc) is missing and apt-get is not here to install it")
    log("installing iproute2 with apt-get")
    if subprocess.run(["apt-get", "install", "-y", "-q", "iproute2"]).returncode != 0:
        sh("apt-get", "update", "-q")
        sh("apt-get", "install", "-y", "-q", "iproute2")


def namespace_up() -> None:
    namespace_down()  # what an interrupted earlier run left
    sh("ip", "netns", "add", NAMESPACE)
    sh("ip", "link", "add", HOST_DEV, "type", "veth", "peer", "name", NS_DEV)
    sh("ip", "link", "set", NS_DEV, "netns", NAMESPACE)
    sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", HOST_DEV)
    sh("ip", "link", "set", HOST_DEV, "up")
    in_ns("ip", "addr", "add", f"{NS_IP}/30", "dev", NS_DEV)
    in_ns("ip", "link", "set", NS_DEV, "up")
    in_ns("ip", "link", "set", "lo", "up")


def namespace_down() -> None:
    sh("ip", "netns", "del", NAMESPACE, check=False)  # takes the veth pair with it
    sh("ip", "link", "del", HOST_DEV, check=False)


def netem_available() -> bool:
    """Whether this kernel can delay packets (``sch_netem``); tried on the veth."""
    probe = sh(
        "tc", "qdisc", "replace", "dev", HOST_DEV, "root", "netem", "delay", "0ms", check=False
    )
    sh("tc", "qdisc", "del", "dev", HOST_DEV, "root", check=False)
    return probe.returncode == 0


def set_netem(delay_ms: float) -> None:
    """Half the round trip on each veth end; a high limit so no packet is dropped."""
    half = f"{delay_ms / 2:g}ms"
    sh("tc", "qdisc", "replace", "dev", HOST_DEV, "root", "netem", "delay", half, "limit", "100000")
    in_ns(
        "tc", "qdisc", "replace", "dev", NS_DEV, "root", "netem", "delay", half, "limit", "100000"
    )


class Forwarder:
    """``benchmarks/netdelay.py`` on the host end of the veth, in its own session."""

    def __init__(self, one_way_ms: float, log_path: Path) -> None:
        self.one_way_ms = one_way_ms
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, target: str) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("netdelay.py")),
                    "--listen",
                    f"{HOST_IP}:{FORWARD_PORT}",
                    "--target",
                    target,
                    "--one-way-ms",
                    str(self.one_way_ms),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while "forwarding" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"forwarder did not start: {self.log_path.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


def measure_round_trip(url: str, in_namespace: bool, count: int = 200) -> float:
    """Median ms of ``SELECT 1`` on one connection, from where a worker would run."""
    code = (
        "import psycopg, statistics, sys, time\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
        "    c.execute('select 1')\n"
        "    t = []\n"
        f"    for _ in range({count}):\n"
        "        s = time.perf_counter(); c.execute('select 1').fetchone()\n"
        "        t.append(time.perf_counter() - s)\n"
        "print(statistics.median(t) * 1000)\n"
    )
    argv = [sys.executable, "-c", code, url]
    done = in_ns(*argv) if in_namespace else sh(*argv)
    return float(done.stdout.strip())


# -- the runs -----------------------------------------------------------------------
@dataclass
class Run:
    args: argparse.Namespace
    root: Path
    base: Context
    use_netem: bool
    results: Results
    work: Workdir

    def context(self, path: NetPath) -> Context:
        if path.delay_ms is None:
            return self.base
        return replace(
            self.base,
            worker_prefix=("ip", "netns", "exec", NAMESPACE),
            worker_netloc=f"{HOST_IP}:{FORWARD_PORT}",
        )

    async def one_path(self, path: NetPath, classes: list[type[System]]) -> None:
        forwarder: Forwarder | None = None
        ctx = self.context(path)
        if path.delay_ms is not None:
            one_way = 0.0 if self.use_netem else path.delay_ms / 2
            if self.use_netem:
                set_netem(path.delay_ms)
            forwarder = Forwarder(one_way, self.root / f"forwarder-{path.name}.log")
            forwarder.start(self.base.postgres_url.split("@")[-1].split("/")[0])
        try:
            rtt = measure_round_trip(ctx.for_worker(self.args.postgres), path.delay_ms is not None)
            self.results.add(f"path#{path.name}", "rtt", rtt)
            log(f"path {path.label}: measured round trip {rtt:.2f} ms")
            for system in instances(classes, ctx, self.args):
                await self.one_system(system, path)
        finally:
            if forwarder is not None:
                forwarder.stop()

    async def one_system(self, system: System, path: NetPath) -> None:
        key = f"{system.key}#{path.name}"
        os.environ.update(system.env())
        try:
            drained = await harness.drain(system, self.args.jobs, self.work)
            self.results.add(key, "drain_steady", drained["steady"])
            self.results.add(key, "drain_total", drained["total"])
            lat = await harness.pickup_latency(
                system, self.args.rate, self.args.latency_seconds, self.work
            )
            self.results.add(key, "latency_p50", lat["p50"])
            self.results.add(key, "latency_p99", lat["p99"])
            log(
                f"  {system.display} {path.label}: drain {drained['steady']:,.0f}/s steady, "
                f"pickup p50 {lat['p50']:.2f} p99 {lat['p99']:.2f} ms"
            )
        except Exception as exc:
            self.results.error(key, f"{type(exc).__name__}: {exc}")
            log(f"  {key} FAILED: {exc}")
        finally:
            await system.close()


def paths_of(args: argparse.Namespace) -> list[NetPath]:
    return [NetPath(LOCAL, None)] + [NetPath(f"{d:g}ms", d) for d in args.delay_list]


def report(
    results: Results,
    systems: list[System],
    paths: list[NetPath],
    machine: dict[str, Any],
    method: str,
    args: argparse.Namespace,
) -> str:
    header = [
        "system (setting)",
        "PostgreSQL path",
        "measured round trip ms",
        f"drain steady/s ({args.jobs:,})",
        "vs local",
        "vs +0 ms",
        "drain incl. start-up/s",
        "pickup p50 ms",
        "pickup p99 ms",
    ]
    rows: list[list[str]] = []
    targets: list[str] = []

    for system in systems:
        local = results.median(f"{system.key}#{LOCAL}", "drain_steady")
        zero = results.median(f"{system.key}#0ms", "drain_steady")
        for path in paths:
            key = f"{system.key}#{path.name}"
            steady = results.median(key, "drain_steady")
            if steady is None:
                continue
            ratio = steady / local if local else None
            rows.append(
                [
                    system.display,
                    path.label,
                    cell(results, f"path#{path.name}", "rtt", "ms"),
                    cell(results, key, "drain_steady", "jobs/s"),
                    f"{ratio:.2f}x" if ratio else "-",
                    f"{steady / zero:.2f}x" if zero else "-",
                    cell(results, key, "drain_total", "jobs/s"),
                    cell(results, key, "latency_p50", "ms"),
                    cell(results, key, "latency_p99", "ms"),
                ]
            )
            if system.is_uno and path.delay_ms == 1 and ratio is not None:
                verdict = "met" if ratio >= 0.5 else "UNMET"
                targets.append(
                    f"- [{verdict}] {system.display}: drain at +1 ms >= 50% of local: {ratio:.2f}"
                )
    parts = [
        "```",
        harness.render_machine(machine),
        "```",
        "",
        f"{args.runs} runs, interleaved; cells are median (min-max). {method}",
        "",
        grid(header, rows),
        "",
        *targets,
    ]
    if results.errors:
        parts += ["", "Errors:", ""]
        parts += [f"- {k}: {e}" for k, errors in results.errors.items() for e in errors]
    return "\n".join(parts) + "\n"


async def main_async(args: argparse.Namespace) -> int:
    stop_on_sigterm()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise SystemExit(f"unknown systems {unknown}; known: {', '.join(ALL)}")
    classes = [load(n) for n in names]
    classes = [c for c in classes if c.backend == "postgres" and not c.missing()]
    if not classes:
        log("no installed PostgreSQL system selected")
        return 1
    ensure_tools()
    root = Path(tempfile.mkdtemp(prefix="uno-bench-net-"))
    base = Context(
        workdir=root,
        postgres_url=args.postgres,
        redis_url=args.redis,
        tag=f"{int(time.time()) % 100_000}",
    )
    paths = paths_of(args)
    results = Results()
    namespace_up()
    try:
        use_netem = netem_available()
        method = method_text(use_netem)
        log(method)
        run = Run(args, root, base, use_netem, results, Workdir(root))
        for number in range(1, args.runs + 1):
            for path in paths:
                log(f"run {number}/{args.runs}, path {path.label}")
                await run.one_path(path, classes)
    finally:
        namespace_down()
        with contextlib.suppress(Exception):
            await destroy(instances(classes, base, args))
        if args.keep:
            log(f"logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    systems = instances(classes, base, args)
    machine = machine_of(systems, args, harness.server_facts(args.postgres, args.redis))
    text = report(results, systems, paths, machine, method, args)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / f"network-{time.strftime('%Y%m%d-%H%M%S')}"
    saved.with_suffix(".md").write_text(text)
    saved.with_suffix(".json").write_text(
        json.dumps({"machine": machine, **results.to_json()}, indent=1, default=str)
    )
    log(f"results written to {saved}.md and .json")
    return 0


def method_text(use_netem: bool) -> str:
    how = (
        "`tc netem` delay, half the round trip on each veth end"
        if use_netem
        else "this kernel has no `sch_netem`: the forwarder (benchmarks/netdelay.py) holds "
        "each chunk half the round trip in each direction"
    )
    return (
        f"One worker process in network namespace {NAMESPACE}, reaching PostgreSQL through a "
        f"veth pair and a TCP forwarder on {HOST_IP}:{FORWARD_PORT} (PostgreSQL listens on "
        f"127.0.0.1 only); added round trip: {how}. The producer stays next to PostgreSQL; "
        "the measured round trip is the median of 200 `SELECT 1` from inside the namespace."
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        log("interrupted: workers stopped, databases and files removed")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
