"""Tasks run by the real worker processes of the integration tests.

Every run appends a line to the file named by ``UNO_TEST_LOG`` with O_APPEND, so
the tests count side effects, not statuses.
"""

from __future__ import annotations

import os
import time

from uno.jobs import JobSystem

jobs = JobSystem()


def append(line: str) -> None:
    """One write(2) of one line: atomic among processes appending to the same file."""
    fd = os.open(os.environ["UNO_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


@jobs.task(max_retries=3, retry_delay=0)
def record(key: str, seconds: float = 0.0) -> str:
    """Log the start, sleep, log the end: a kill in between shows as a start alone."""
    append(f"start {key} {os.getpid()}")
    if seconds:
        time.sleep(seconds)
    append(f"done {key} {os.getpid()}")
    return key


@jobs.task(max_retries=0, executor="process")
def cpu_bound(n: int) -> dict[str, int]:
    """Sum of squares below n, computed in a child process; returns that pid too."""
    return {"sum": sum(i * i for i in range(n)), "pid": os.getpid()}


@jobs.task(max_retries=0, executor="process", timeout=0.5)
def cpu_forever() -> None:
    """Never returns: only a kill of its process ends it."""
    while True:
        pass


@jobs.task(max_retries=1)
def fail(message: str = "boom") -> None:
    """Always raises: what follows depends on the job's retry settings."""
    raise ValueError(message)
