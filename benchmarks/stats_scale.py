"""Time Get Job Statistics on a large jobs table, on either store.

    python benchmarks/stats_scale.py sqlite:////tmp/stats.db --jobs 1000000
    python benchmarks/stats_scale.py postgresql://postgres@127.0.0.1/test --jobs 1000000

Fills the database (once: a database that already holds ``--jobs`` jobs is
reused) with jobs in a mix of statuses, queues and priorities: 90% finished
(completed, failed, cancelled), the rest waiting or held, 5 queues, a few
retried jobs waiting for their next attempt. Then it calls ``JobSystem.stats()``
once (one full computation), and then has ``--pollers`` clients poll it (each
pausing ``--interval`` between answers: 8 x 0.7 s is about 11 requests a second)
for ``--seconds`` while enqueueing one job at a time: it prints how many answers
the pollers got and how fast, and the enqueue latency alone and while polled.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from uno.jobs.jobs import Job, Priority, Status
from uno.jobs.queries import JobFilter
from uno.jobs.store import create_store
from uno.jobs.store.base import Store
from uno.jobs.system import JobSystem

T0 = datetime(2026, 1, 1, tzinfo=UTC)
QUEUES = ("default", "mail", "reports", "images", "billing")
STATUS_MIX = (
    (Status.COMPLETED, 80),
    (Status.FAILED, 6),
    (Status.CANCELLED, 4),
    (Status.PENDING, 7),
    (Status.RETRYING, 1),
    (Status.RUNNING, 2),
)


def make_job(n: int, rng: random.Random) -> Job:
    status = rng.choices([s for s, _ in STATUS_MIX], [w for _, w in STATUS_MIX])[0]
    created = T0 + timedelta(seconds=n * 0.01)
    started = completed = None
    scheduled = created
    if status in (Status.COMPLETED, Status.FAILED, Status.RUNNING, Status.RETRYING):
        started = created + timedelta(seconds=rng.random())
    if status in (Status.COMPLETED, Status.FAILED):
        completed = (started or created) + timedelta(seconds=rng.random())
    if status is Status.RETRYING:
        scheduled = (started or created) + timedelta(seconds=60)
    return Job(
        task_name="bench.task",
        args=[n, "x" * 40],
        queue_name=rng.choice(QUEUES),
        priority=rng.choice(list(Priority)),
        status=status,
        created_at=created,
        scheduled_at=scheduled,
        started_at=started,
        completed_at=completed,
        worker_id="w1" if status is Status.RUNNING else None,
    )


async def fill(store: Store, jobs: int) -> None:
    have = (await store.list_jobs(JobFilter(limit=0)))[1]
    if have >= jobs:
        return
    rng = random.Random(have)
    batch = 10_000
    started = time.perf_counter()
    for first in range(have, jobs, batch):
        await store.insert_jobs([make_job(n, rng) for n in range(first, min(jobs, first + batch))])
    print(f"filled {jobs - have:,} jobs in {time.perf_counter() - started:.1f} s")


async def timed(call: Awaitable[object]) -> float:
    started = time.perf_counter()
    await call
    return time.perf_counter() - started


async def enqueue_one(store: Store) -> float:
    return await timed(store.insert_jobs([make_job(0, random.Random())]))


async def poll_stats(
    system: JobSystem, until: float, interval: float, latencies: list[float]
) -> None:
    """One dashboard: ask, wait for the answer, wait ``interval``, ask again."""
    while time.perf_counter() < until:
        latencies.append(await timed(system.stats()))
        await asyncio.sleep(interval)


def ms(values: list[float], q: float = 0.5) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--pollers", type=int, default=8)
    parser.add_argument("--interval", type=float, default=0.7, help="each poller's pause")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--schema", help="PostgreSQL schema (default: the store's)")
    args = parser.parse_args()

    options = {"schema": args.schema} if args.schema else {}
    store = create_store(args.url, **options)
    system = JobSystem(store=store)
    await system.open()
    try:
        await fill(store, args.jobs)
        first = await timed(system.stats())
        print(f"stats at {args.jobs:,} jobs, one computation: {first * 1000:.0f} ms")
        alone = [await enqueue_one(store) for _ in range(100)]
        until = time.perf_counter() + args.seconds
        stats: list[float] = []
        pollers = [poll_stats(system, until, args.interval, stats) for _ in range(args.pollers)]
        polling = asyncio.gather(*pollers)
        beside: list[float] = []
        while time.perf_counter() < until:
            beside.append(await enqueue_one(store))
        await polling
        computations = system._stats.computations
        print(
            f"{args.pollers} pollers for {args.seconds:g} s: {len(stats)} stats answers "
            f"(median {ms(stats)}, p95 {ms(stats, 0.95)})" + f", {computations} computations"
        )
        print(
            f"enqueue alone: median {ms(alone)}, p95 {ms(alone, 0.95)}; "
            f"while polled: median {ms(beside)}, p95 {ms(beside, 0.95)}, "
            f"max {max(beside) * 1000:.0f} ms ({len(beside)} enqueues)"
        )
    finally:
        await system.close()


if __name__ == "__main__":
    asyncio.run(main())
