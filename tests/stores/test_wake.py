"""Behaviour every Store must have: waiting for new work without busy polling."""

from __future__ import annotations

import asyncio
import time

from helpers import StoreFactory, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.store.base import Store


async def test_wait_wakes_on_an_insert_from_this_process(store: Store, clock: ManualClock) -> None:
    assert await store.fetch_jobs("w", None, 10, clock.now()) == []
    waiter = asyncio.create_task(store.wait_for_jobs(30))
    for _ in range(5):
        await asyncio.sleep(0)
    started = time.monotonic()
    await store.insert_jobs([make_job()])
    await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 2


async def test_wait_wakes_on_an_insert_from_another_connection(
    store_factory: StoreFactory, clock: ManualClock
) -> None:
    consumer, producer = await store_factory(), await store_factory()
    assert await consumer.fetch_jobs("w", None, 10, clock.now()) == []
    waiter = asyncio.create_task(consumer.wait_for_jobs(30))
    for _ in range(5):
        await asyncio.sleep(0)
    started = time.monotonic()
    await producer.insert_jobs([make_job()])
    await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 2


async def test_wait_times_out_when_nothing_happens(store: Store, clock: ManualClock) -> None:
    await store.fetch_jobs("w", None, 10, clock.now())
    # A spurious wake-up is allowed, but not a wait that never waits.
    waits = []
    for _ in range(3):
        started = time.monotonic()
        await store.wait_for_jobs(0.3)
        waits.append(time.monotonic() - started)
        if waits[-1] >= 0.25:
            break
    assert 0.25 <= max(waits) < 3, waits


async def test_an_insert_just_before_waiting_is_not_missed(
    store: Store, clock: ManualClock
) -> None:
    await store.fetch_jobs("w", None, 10, clock.now())
    await store.insert_jobs([make_job()])
    started = time.monotonic()
    await store.wait_for_jobs(30)
    assert time.monotonic() - started < 2
