"""HTTP load generator, run as its own process; prints a JSON summary.

    python benchmarks/api_load.py --url http://127.0.0.1:8000/api/v1/jobs \\
        --method POST --body '{"task_name": "noop"}' --token T --seconds 10

Uses ``wrk`` when it is on the PATH (``apt-get install wrk``): it costs the
machine far less CPU than a Python client, so the server is what gets measured.
Without it, ``--processes`` processes of async httpx clients share the
connections. Only successful (2xx) responses count toward ``rps``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET", choices=["GET", "POST"])
    parser.add_argument("--body", default=None, help="JSON request body")
    parser.add_argument("--token", default=None, help="Bearer token")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--processes", type=int, default=2, help="httpx client processes")
    args = parser.parse_args(argv)
    if urlsplit(args.url).hostname not in LOCAL_HOSTS:
        parser.error("the load generator only targets 127.0.0.1")
    return args


# -- wrk ---------------------------------------------------------------------------
def run_wrk(args: argparse.Namespace) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    lua = [f'wrk.method = "{args.method}"']
    lua += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    if args.body is not None:
        lua.append(f"wrk.body = {json.dumps(args.body)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua) + "\n")
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{args.connections}",
                f"-d{max(1, round(args.seconds))}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                args.url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    match = re.search(r"(\d+) requests in ([\d.]+)(m?s|m)\b", out)
    if not match:
        raise SystemExit(f"cannot read wrk output:\n{out}")
    total = int(match.group(1))
    duration = float(match.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(3)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    ok = max(total - errors, 0)
    return {"tool": "wrk", "ok": ok, "errors": errors, "seconds": duration, "rps": ok / duration}


# -- httpx -------------------------------------------------------------------------
def _httpx_process(args: argparse.Namespace, connections: int, queue: object) -> None:
    queue.put(asyncio.run(_httpx_load(args, connections)))  # type: ignore[attr-defined]


async def _httpx_load(args: argparse.Namespace, connections: int) -> tuple[int, int, float]:
    import httpx

    headers = {"Content-Type": "application/json"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    content = args.body.encode() if args.body is not None else None
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    ok = errors = 0
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10.0) as client:
        began = time.perf_counter()
        deadline = began + args.seconds

        async def one_connection() -> None:
            nonlocal ok, errors
            while time.perf_counter() < deadline:
                try:
                    response = await client.request(args.method, args.url, content=content)
                    if 200 <= response.status_code < 300:
                        ok += 1
                    else:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1

        await asyncio.gather(*(one_connection() for _ in range(connections)))
        return ok, errors, time.perf_counter() - began


def run_httpx(args: argparse.Namespace) -> dict[str, object]:
    processes = max(1, args.processes)
    per = max(1, args.connections // processes)
    queue: multiprocessing.Queue[tuple[int, int, float]] = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_httpx_process, args=(args, per, queue))
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    parts = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    ok = sum(p[0] for p in parts)
    errors = sum(p[1] for p in parts)
    duration = max(p[2] for p in parts)
    return {"tool": "httpx", "ok": ok, "errors": errors, "seconds": duration, "rps": ok / duration}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_wrk = args.tool == "wrk" or (args.tool == "auto" and shutil.which("wrk"))
    result = run_wrk(args) if use_wrk else run_httpx(args)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
