"""Time Get Job Statistics on a large jobs table, on either store.

    python benchmarks/stats_scale.py sqlite:////tmp/stats.db --jobs 1000000
    python benchmarks/stats_scale.py postgresql://postgres@127.0.0.1/test --jobs 1000000

Fills the database (once: a database that already holds ``--jobs`` jobs is
reused) with jobs in a mix of statuses, queues and priorities: 90% finished
(completed, failed, cancelled), the rest waiting or held, 5 queues, a few
retried jobs waiting for their next attempt. Then it calls ``store.job_stats()``
``--runs`` times on the open store and prints the median and fastest time, and
for SQLite the time of a concurrent enqueue while stats are polled (each
enqueue alone vs with a stats call in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from uno.jobs.jobs import Job, Priority, Status
from uno.jobs.store import create_store
from uno.jobs.store.base import Store

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
    have = (await store.job_stats()).total_jobs
    if have >= jobs:
        return
    rng = random.Random(have)
    batch = 10_000
    started = time.perf_counter()
    for first in range(have, jobs, batch):
        await store.insert_jobs([make_job(n, rng) for n in range(first, min(jobs, first + batch))])
    print(f"filled {jobs - have:,} jobs in {time.perf_counter() - started:.1f} s")


async def timed(call: object) -> float:
    started = time.perf_counter()
    await call  # type: ignore[misc]
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    store = create_store(args.url)
    await store.open()
    try:
        await fill(store, args.jobs)
        await store.job_stats()  # warm the cache: measure the query, not the disk
        times = [await timed(store.job_stats()) for _ in range(args.runs)]
        print(
            f"job_stats at {args.jobs:,} jobs: median {statistics.median(times) * 1000:.1f} ms, "
            f"fastest {min(times) * 1000:.1f} ms ({args.runs} runs)"
        )
        alone = [await timed(store.insert_jobs([make_job(0, random.Random())])) for _ in range(50)]
        beside: list[float] = []
        for _ in range(args.runs):
            stats = asyncio.ensure_future(store.job_stats())
            await asyncio.sleep(0)
            while not stats.done():
                beside.append(await timed(store.insert_jobs([make_job(0, random.Random())])))
            await stats
        print(
            f"enqueue alone: median {statistics.median(alone) * 1000:.2f} ms; "
            f"while stats run: median {statistics.median(beside) * 1000:.2f} ms, "
            f"max {max(beside) * 1000:.2f} ms ({len(beside)} enqueues)"
        )
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
