"""The seed's example tasks, so every example of the API reference runs as written.

``uno-jobs serve --app uno.jobs.demo`` serves them. The module holds a task
registry only: whoever serves it builds the job system, from its own final
settings, when it needs one (importing this module reads no settings and opens
nothing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from uno.jobs.tasks import Task, TaskRegistry

registry = TaskRegistry()


def task(description: str, **options: Any) -> Callable[[Callable[..., Any]], Task]:
    """Register the decorated function in ``registry`` under its own name."""

    def register(func: Callable[..., Any]) -> Task:
        return registry.register(
            Task(name=func.__name__, func=func, description=description, **options)
        )

    return register


@task(
    "Process data with various options",
    timeout=300,
    max_retries=3,
    retry_delay=60,
    queue="default",
    version="1.0",
)
async def process_data(
    value: Any = None, *args: Any, format: str = "json", **options: Any
) -> dict[str, Any]:
    """Pretend to process ``value`` in ``format``; the result names what was processed."""
    return {"processed": value}


@task(
    "Generate a report in various formats",
    timeout=600,
    max_retries=2,
    retry_delay=120,
    queue="reports",
    version="1.0",
)
async def generate_report(
    period: str = "daily", *, format: str = "pdf", **options: Any
) -> dict[str, Any]:
    """Pretend to build a report for ``period``."""
    return {
        "report": f"{period}-report.{format}",
        "period": period,
        "format": format,
        "generated_at": datetime.now(UTC).isoformat(),
        **options,
    }


@task("Check the status of the system", timeout=60, max_retries=1, retry_delay=30)
async def check_status(*targets: str, **options: Any) -> dict[str, Any]:
    """Report every target as healthy."""
    return {"status": "ok", "targets": list(targets), **options}


@task("Return the arguments it was called with", max_retries=0)
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Return the arguments as they arrived."""
    return {"args": list(args), "kwargs": kwargs}


@task("Add two numbers", max_retries=0)
def add(a: float, b: float) -> float:
    """Return a + b."""
    return a + b


@task("Sleep for a number of seconds", max_retries=0)
async def sleep(seconds: float) -> float:
    """Sleep without blocking the worker; return the seconds slept."""
    started = time.monotonic()
    await asyncio.sleep(float(seconds))
    return time.monotonic() - started


@task("Fail with a message", max_retries=0, retry_delay=1)
def fail(message: str = "failed on purpose") -> None:
    """Raise RuntimeError(message), to see failures and retries."""
    raise RuntimeError(message)
