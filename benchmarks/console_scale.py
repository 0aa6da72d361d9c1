"""Time what the operator console asks for on a large jobs table.

    python benchmarks/console_scale.py postgresql://postgres@127.0.0.1/test \\
        --schema console_bench --jobs 1000000

Fills the database as ``stats_scale.py`` does (once: a database that already holds
``--jobs`` jobs is reused), then, for each ``--starts``, builds a new server app
(``create_app``, auth off, no embedded worker or scheduler: a server start) and
sends the console's requests in process over ASGI (no network), each ``--repeat``
times: the first answer after the start, and the median of the others.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from stats_scale import fill

from uno.jobs.api.app import create_app
from uno.jobs.store import create_store
from uno.jobs.system import JobSystem

REQUESTS = (
    "/api/v1/console/overview?minutes=60",
    "/api/v1/console/overview?minutes=1440",
    "/api/v1/jobs?limit=50",
    "/api/v1/jobs?limit=50&status=failed",
    "/api/v1/jobs?limit=50&queue_name=mail",
)


async def one_start(url: str, options: dict[str, str], repeat: int) -> None:
    system = JobSystem(store=create_store(url, **options))
    app = create_app(system, include_auth=False, embedded_worker=False, embedded_scheduler=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for path in REQUESTS:
                took = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    answer = await client.get(path)
                    took.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text
                then = statistics.median(took[1:]) if len(took) > 1 else float("nan")
                name = path.removeprefix("/api/v1")
                print(f"| `GET {name}` | {took[0]:,.0f} ms | {then:,.0f} ms |")
    await system.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--schema", help="PostgreSQL schema (default: the store's)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--starts", type=int, default=2)
    args = parser.parse_args()
    options = {"schema": args.schema} if args.schema else {}
    store = create_store(args.url, **options)
    await store.open()
    try:
        await fill(store, args.jobs)
    finally:
        await store.close()
    for start in range(args.starts):
        print(f"server start {start + 1}:")
        await one_start(args.url, options, args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
