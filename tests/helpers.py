"""Helpers shared by the test suites: building jobs and waiting without sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from uno.jobs.jobs import Job
from uno.jobs.store.base import Store

T = TypeVar("T")

#: Opens one more store on the database of the current test (fixture ``store_factory``).
StoreFactory = Callable[[], Awaitable[Store]]

#: The start of every ManualClock in tests, and the default time of make_job.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def make_job(**kw: Any) -> Job:
    """A job ready to insert: task ``t``, created and due at ``EPOCH`` unless told."""
    kw.setdefault("task_name", "t")
    kw.setdefault("created_at", EPOCH)
    kw.setdefault("scheduled_at", kw["created_at"])
    return Job(**kw)


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 5.0, interval: float = 0.01
) -> T:
    """Poll ``check`` until it returns something truthy, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)
