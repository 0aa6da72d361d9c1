"""Shared mechanics: worker processes, start-time records, workloads, statistics.

Every workload reads what the worker processes wrote through
``benchmarks.recorder``: a line ``<start time> <enqueue time>`` per job started,
flushed in batches to one file per process. Throughput and pickup latency are
computed from those lines, never from a per-job round trip to the harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.systems.base import REPO, ServerFacts, System

#: drained jobs between these fractions count toward the steady rate
STEADY_FROM, STEADY_TO = 0.10, 0.90


class BenchError(RuntimeError):
    """A workload could not finish (a worker died, or jobs never ran)."""


# -- records --------------------------------------------------------------------
class Records:
    """Incremental reader of the ``*.rec`` files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows: list[tuple[float, float]] = []
        self._offsets: dict[Path, int] = {}

    def poll(self) -> int:
        """Read what was appended since the last poll; return the total count."""
        for path in self.directory.glob("*.rec"):
            offset = self._offsets.get(path, 0)
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
            end = data.rfind(b"\n") + 1
            if not end:
                continue
            self._offsets[path] = offset + end
            for line in data[:end].split(b"\n")[:-1]:
                started, enqueued = line.split()
                self.rows.append((float(started), float(enqueued)))
        return len(self.rows)


# -- worker processes -----------------------------------------------------------
@dataclass
class WorkerProcess:
    """One worker process of a system, started in its own session."""

    system: System
    record_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    spawned_at: float = 0.0

    def start(self) -> WorkerProcess:
        self.record_dir.mkdir(parents=True, exist_ok=True)
        ctx = self.system.ctx
        env = {
            **os.environ,
            **self.system.env(),
            "BENCH_RECORD_DIR": str(self.record_dir),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        env = {k: ctx.for_worker(v) for k, v in env.items()}
        argv = [*ctx.worker_prefix, *(ctx.for_worker(a) for a in self.system.worker_argv())]
        profile_dir = os.environ.get("BENCH_PROFILE_DIR")
        if profile_dir:
            # py-spy samples the worker (and its children) into collapsed stacks
            Path(profile_dir).mkdir(parents=True, exist_ok=True)
            out = Path(profile_dir) / f"{self.record_dir.parent.name}-{self.log_path.stem}.txt"
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            argv = [
                spy,
                "record",
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                "250",
                "--nonblocking",
                "-o",
                str(out),
                "--",
                *argv,
            ]
        log = self.log_path.open("ab")
        self.spawned_at = time.time()
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(
                f"{self.system.name} worker exited with {self.proc.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """CPU time used so far by the worker's whole process group (children too)."""
        if self.proc is None:
            return 0.0
        return cpu_seconds(lambda pgrp, _comm: pgrp == self.proc.pid)  # type: ignore[union-attr]

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL to the whole process group after ``grace``."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if os.environ.get("BENCH_PROFILE_DIR"):  # py-spy writes its output on SIGINT
                    os.killpg(proc.pid, signal.SIGINT)
                else:
                    proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        self.proc = None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(match: Callable[[int, str], bool]) -> float:
    """User+system CPU seconds of the live processes whose (process group, command
    name) ``match`` accepts, read from /proc; 0 where /proc is not there."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended meanwhile
        comm = text[text.find("(") + 1 : text.rfind(")")]
        fields = text[text.rfind(")") + 2 :].split()
        if match(int(fields[2]), comm):
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU seconds of every live PostgreSQL server process on this machine (all
    databases: other users of the server count too)."""
    return cpu_seconds(lambda _pgrp, comm: comm.startswith("postgres"))


async def wait_for_records(
    records: Records,
    count: int,
    workers: WorkerProcess | list[WorkerProcess],
    timeout: float,
    step: float = 0.02,
) -> None:
    group = workers if isinstance(workers, list) else [workers]
    deadline = time.monotonic() + timeout
    while records.poll() < count:
        for worker in group:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(
                f"{group[0].system.name}: {len(records.rows)} of {count} jobs ran within "
                f"{timeout:.0f} s\n{group[0].log_tail()}"
            )
        await asyncio.sleep(step)


# -- workloads ------------------------------------------------------------------
@dataclass
class Workdir:
    root: Path
    counter: int = 0

    def fresh(self, label: str) -> Path:
        self.counter += 1
        path = self.root / f"{self.counter:03d}-{label}"
        path.mkdir(parents=True)
        return path


async def enqueue_single(system: System, n: int) -> float:
    """Jobs/s for ``n`` enqueues one after the other, each its own call."""
    await system.reset()
    began = time.perf_counter()
    for _ in range(n):
        await system.enqueue_one(time.time())
    return n / (time.perf_counter() - began)


async def enqueue_bulk(system: System, n: int) -> float | None:
    """Jobs/s for ``n`` jobs in one bulk call; None when the system has no bulk API."""
    await system.reset()
    stamps = [time.time()] * n
    began = time.perf_counter()
    if not await system.enqueue_bulk(stamps):
        return None
    return n / (time.perf_counter() - began)


async def enqueue_concurrent(system: System, n: int, producers: int) -> float:
    """Jobs/s for ``n`` single enqueues made by ``producers`` producers at once:
    asyncio tasks, or threads for a system whose client blocks."""
    await system.reset()
    await system.enqueue_concurrent(time.time())  # opens what the producers share
    share = [n // producers + (1 if i < n % producers else 0) for i in range(producers)]
    if system.blocking_enqueue:
        from concurrent.futures import ThreadPoolExecutor

        def produce_blocking(count: int) -> None:
            for _ in range(count):
                system.enqueue_blocking(time.time())

        began = time.perf_counter()
        with ThreadPoolExecutor(producers) as pool:
            list(pool.map(produce_blocking, share))
    else:

        async def produce(count: int) -> None:
            for _ in range(count):
                await system.enqueue_concurrent(time.time())

        began = time.perf_counter()
        await asyncio.gather(*(produce(c) for c in share))
    return n / (time.perf_counter() - began)


async def fill(system: System, n: int, chunk: int = 10_000) -> None:
    """Queue ``n`` jobs by the fastest means the system has (not timed)."""
    done = 0
    while done < n:
        size = min(chunk, n - done)
        if not await system.enqueue_bulk([time.time()] * size):
            for _ in range(n - done):
                await system.enqueue_one(time.time())
            return
        done += size


async def drain(system: System, n: int, work: Workdir, processes: int = 1) -> dict[str, float]:
    """Queue ``n`` jobs, start ``processes`` worker processes, time until all have started.

    ``total`` counts from the first spawn (start-up included) to the last job
    start; ``steady`` is the rate between the 10th and the 90th percentile
    starts. ``cpu_per_1k`` is the workers' CPU milliseconds per 1,000 jobs and
    ``pg_cpu_per_1k`` the PostgreSQL server's, both counted from the first job
    start (imports and connecting left out) to the last.
    """
    await system.reset()
    await fill(system, n)
    directory = work.fresh(f"{system.name}-drain{n}x{processes}")
    records = Records(directory / "records")
    workers = [
        WorkerProcess(system, records.directory, directory / f"worker{i}.log").start()
        for i in range(processes)
    ]
    try:
        cpu_from = await _first_records(records, workers)
        await wait_for_records(records, n, workers, timeout=max(120.0, n / 100), step=0.05)
        cpu_to = (sum(w.cpu_seconds() for w in workers), postgres_cpu_seconds())
    finally:
        for worker in workers:
            worker.stop()
    starts = sorted(s for s, _ in records.rows)
    lo, hi = int(n * STEADY_FROM), int(n * STEADY_TO) - 1
    spawned = min(w.spawned_at for w in workers)
    found = {
        "total": n / (starts[n - 1] - spawned),
        "steady": (hi - lo) / max(starts[hi] - starts[lo], 1e-9),
        "startup": starts[0] - spawned,
        "extra": float(len(records.rows) - n),
    }
    counted = n - cpu_from[2]
    if counted >= n / 2:  # else too few jobs ran after the first sample to say
        found["cpu_per_1k"] = (cpu_to[0] - cpu_from[0]) / counted * 1e6
        found["pg_cpu_per_1k"] = (cpu_to[1] - cpu_from[1]) / counted * 1e6
    return found


async def _first_records(
    records: Records, workers: list[WorkerProcess]
) -> tuple[float, float, int]:
    """Wait for the first job start; then (workers' CPU s, PostgreSQL CPU s, jobs so far)."""
    await wait_for_records(records, 1, workers, timeout=120.0, step=0.01)
    return (
        sum(w.cpu_seconds() for w in workers),
        postgres_cpu_seconds(),
        records.poll(),
    )


async def pickup_latency(
    system: System, rate: float, seconds: float, work: Workdir
) -> dict[str, float]:
    """Enqueue one job every ``1/rate`` s to an idle worker process; latency in ms.

    Latency is the job's start time minus the time just before its enqueue call,
    so it includes the enqueue call itself (its median is returned apart, as
    ``enqueue_call_p50``). A first job and one warm-up second are left out.
    """
    await system.reset()
    directory = work.fresh(f"{system.name}-latency")
    records = Records(directory / "records")
    worker = WorkerProcess(system, records.directory, directory / "worker.log").start()
    try:
        await system.enqueue_one(time.time())
        await wait_for_records(records, 1, worker, timeout=120.0)
        warmup = int(rate)
        measured = max(int(rate * seconds), 20)
        interval = 1.0 / rate
        next_at = time.perf_counter()
        measure_from = 0.0
        calls: list[float] = []
        for i in range(warmup + measured):
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if i == warmup:
                measure_from = time.time()
            before = time.perf_counter()
            await system.enqueue_one(time.time())
            if i >= warmup:
                calls.append((time.perf_counter() - before) * 1000)
            next_at += interval
        await wait_for_records(records, 1 + warmup + measured, worker, timeout=60.0)
    finally:
        worker.stop()
    latencies = sorted((s - e) * 1000 for s, e in records.rows if e >= measure_from)
    return {
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": latencies[-1],
        "enqueue_call_p50": statistics.median(calls),
    }


def percentile(ordered: list[float], pct: float) -> float:
    """Linear-interpolated percentile of an ascending list."""
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * pct / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# -- results --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    title: str
    unit: str
    higher_is_better: bool = True


@dataclass
class Results:
    """Samples per system and metric, one per run."""

    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, system: str, metric: str, value: float | None) -> None:
        if value is not None:
            self.samples.setdefault(system, {}).setdefault(metric, []).append(value)

    def error(self, system: str, message: str) -> None:
        self.errors.setdefault(system, []).append(message)

    def median(self, system: str, metric: str) -> float | None:
        values = self.samples.get(system, {}).get(metric)
        return statistics.median(values) if values else None

    def span(self, system: str, metric: str) -> tuple[float, float] | None:
        values = self.samples.get(system, {}).get(metric)
        return (min(values), max(values)) if values else None

    def to_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "errors": self.errors, "notes": self.notes}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if unit == "x":
        return f"{value:.2f}"
    if unit == "s":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def render_table(
    results: Results,
    metrics: list[Metric],
    systems: list[tuple[str, str]],
    uno: list[str],
    markdown: bool = False,
) -> str:
    """One block per metric: median, min-max and ratio uno-jobs / peer per system.

    ``systems`` is ``[(name, label)]`` in display order, ``uno`` the uno-jobs
    systems that get a ratio column each.
    """
    labels = dict(systems)
    out: list[str] = []
    for metric in metrics:
        rows = [
            (name, labels[name])
            for name, _ in systems
            if results.median(name, metric.key) is not None
        ]
        if not rows:
            continue
        header = [f"{metric.title} ({metric.unit})", "median", "min-max"] + [
            f"{labels[u]} / peer" for u in uno
        ]
        body: list[list[str]] = []
        for name, label in rows:
            med = results.median(name, metric.key)
            span = results.span(name, metric.key)
            cells = [
                label,
                fmt(med, metric.unit),
                f"{fmt(span[0], metric.unit)}-{fmt(span[1], metric.unit)}" if span else "-",
            ]
            for u in uno:
                mine = results.median(u, metric.key)
                if name == u or mine is None or not med:
                    cells.append("")
                else:
                    cells.append(f"{mine / med:.2f}")
            body.append(cells)
        out.append(_grid(header, body, markdown))
        out.append("")
    return "\n".join(out)


def _grid(header: list[str], body: list[list[str]], markdown: bool) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return ("| " + " | ".join(parts) + " |") if markdown else "  ".join(parts)

    lines = [line(header)]
    if markdown:
        lines.append(
            "|"
            + "|".join(("-" * (w + 1)) + (":" if i else "-") for i, w in enumerate(widths))
            + "|"
        )
    else:
        lines.append("-" * len(lines[0]))
    lines.extend(line(r) for r in body)
    return "\n".join(lines)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- machine and versions -------------------------------------------------------
def machine_info(postgres_url: str, redis_url: str, distributions: list[str]) -> dict[str, Any]:
    """Date, CPU, memory, load, Python, servers and package versions."""
    import platform
    from datetime import datetime
    from importlib import metadata

    info: dict[str, Any] = {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory": _memory(),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import psycopg

        with psycopg.connect(postgres_url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = row[0] if row else "?"
    except Exception as exc:
        info["postgresql"] = f"unreachable ({type(exc).__name__})"
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
        info["redis"] = client.info("server")["redis_version"]
        client.close()
    except Exception as exc:
        info["redis"] = f"unreachable ({type(exc).__name__})"
    versions: dict[str, str] = {}
    for dist in distributions:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    info["versions"] = versions
    return info


def server_facts(postgres_url: str, redis_url: str) -> ServerFacts:
    """How PostgreSQL and Redis here persist commits (unknown ones stay ``?``)."""
    found: dict[str, str] = {}
    try:
        import psycopg

        with psycopg.connect(postgres_url, connect_timeout=3) as conn:
            for name in ("synchronous_commit", "fsync"):
                row = conn.execute(f"SHOW {name}").fetchone()
                found[f"pg_{name}"] = str(row[0]) if row else "?"
    except Exception as exc:
        log(f"cannot read PostgreSQL's durability settings: {exc}")
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, decode_responses=True)
        try:
            for name in ("appendonly", "appendfsync", "save"):
                values: dict[str, str] = client.config_get(name)  # type: ignore[assignment]
                found[f"redis_{name}"] = str(values.get(name, "?"))
        finally:
            client.close()
    except Exception as exc:
        log(f"cannot read Redis' persistence settings: {exc}")
    return ServerFacts(**found)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def render_machine(info: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    return "\n".join(
        [
            f"date: {info['date']}",
            f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory']} RAM, "
            f"load average at start {info['load_average']}"
            + (f", at end {info['load_average_end']}" if info.get("load_average_end") else ""),
            f"os: {info['os']}; Python {info['python']}; PostgreSQL {info['postgresql']}; "
            f"Redis {info['redis']}",
            f"versions: {versions}",
        ]
    )
