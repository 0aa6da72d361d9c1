"""Tasks of the job-control process tests, as several apps (``--app jc_tasks:<name>``).

Tasks append lines to the file named by ``UNO_TEST_LOG`` (one write(2) each), so
the tests see what ran where and when, without asking the worker.
"""

from __future__ import annotations

import asyncio
import os
import time

from uno.jobs import JobSystem
from uno.jobs.context import JobContext

#: The cancellation tasks, progress and a flaky task.
control = JobSystem()
#: Two workers with different task sets.
set_a = JobSystem()
set_b = JobSystem()
#: A rolling deploy: the task "deploy" at version 1, then at version 2.
v1 = JobSystem()
v2 = JobSystem()


def append(line: str) -> None:
    fd = os.open(os.environ["UNO_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


@control.task(max_retries=0)
async def async_sleeper(key: str) -> None:
    append(f"started {key} {os.getpid()} {time.time()}")
    try:
        await asyncio.sleep(120)
    except asyncio.CancelledError:
        append(f"stopped {key} {os.getpid()} {time.time()}")
        raise


@control.task(max_retries=0)
def thread_checker(key: str, ctx: JobContext) -> None:
    append(f"started {key} {os.getpid()} {time.time()}")
    deadline = time.monotonic() + 120
    while not ctx.cancelled and time.monotonic() < deadline:
        time.sleep(0.005)
    append(f"stopped {key} {os.getpid()} {time.time()}")


@control.task(max_retries=0, executor="process")
def process_sleeper(key: str) -> None:
    append(f"started {key} {os.getpid()} {time.time()}")
    time.sleep(120)  # never checks anything: terminated on cancel


@control.task(max_retries=0)
async def steps(key: str, ctx: JobContext) -> str:
    for step in range(1, 5):
        ctx.report_progress(step / 4, f"step {step} of 4")
        append(f"step {key} {step} {time.time()}")
        await asyncio.sleep(0.7)
    return key


@control.task(max_retries=3, retry_delay=0)
def flaky(key: str, ctx: JobContext) -> str:
    if ctx.attempt < 3:
        raise ValueError(f"attempt {ctx.attempt} of {key} fails")
    return key


def _record(system: JobSystem, name: str, version: str) -> None:
    @system.task(name=name, version=version, max_retries=0)
    def run(key: str) -> str:
        append(f"ran {name} {version} {key} {os.getpid()}")
        return key


_record(set_a, "alpha", "1")
_record(set_b, "beta", "1")
_record(v1, "deploy", "1")
_record(v2, "deploy", "2")
