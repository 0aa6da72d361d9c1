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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.systems.base import REPO, System

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
        env = {
            **os.environ,
            **self.system.env(),
            "BENCH_RECORD_DIR": str(self.record_dir),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        argv = self.system.worker_argv()
        profile_dir = os.environ.get("BENCH_PROFILE_DIR")
        if profile_dir:
            # py-spy samples the worker (and its children) into collapsed stacks
            Path(profile_dir).mkdir(parents=True, exist_ok=True)
            out = Path(profile_dir) / f"{self.record_dir.parent.name}.txt"
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


async def wait_for_records(
    records: Records, count: int, worker: WorkerProcess, timeout: float, step: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while records.poll() < count:
        worker.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(
                f"{worker.system.name}: {len(records.rows)} of {count} jobs ran within "
                f"{timeout:.0f} s\n{worker.log_tail()}"
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


async def drain(system: System, n: int, work: Workdir) -> dict[str, float]:
    """Queue ``n`` jobs, start one worker process, and time until all have started.

    ``total`` counts from the process spawn (start-up included) to the last job
    start; ``steady`` is the rate between the 10th and the 90th percentile starts.
    """
    await system.reset()
    await fill(system, n)
    directory = work.fresh(f"{system.name}-drain{n}")
    records = Records(directory / "records")
    worker = WorkerProcess(system, records.directory, directory / "worker.log").start()
    try:
        await wait_for_records(records, n, worker, timeout=max(120.0, n / 100), step=0.05)
    finally:
        worker.stop()
    starts = sorted(s for s, _ in records.rows)
    lo, hi = int(n * STEADY_FROM), int(n * STEADY_TO) - 1
    return {
        "total": n / (starts[n - 1] - worker.spawned_at),
        "steady": (hi - lo) / max(starts[hi] - starts[lo], 1e-9),
        "startup": starts[0] - worker.spawned_at,
        "extra": float(len(records.rows) - n),
    }


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
