"""Behaviour every Store must have: a live worker hands back the jobs it holds but
does not run (``release_strays``), and only those."""

from __future__ import annotations

import asyncio

from helpers import StoreFactory, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.jobs import Status
from uno.jobs.store.base import Completion, Store

W = "worker-1"


async def test_strays_are_handed_back_and_kept_jobs_stay_held(
    store: Store, clock: ManualClock
) -> None:
    kept, stray_running, stray_reserved = (
        make_job(),
        make_job(retry_count=1, max_retries=3),
        make_job(),
    )
    await store.insert_jobs([kept, stray_running, stray_reserved])
    claimed = await store.fetch_jobs(W, None, 3, clock.now(), running=2)
    assert [j.id for j in claimed] == [kept.id, stray_running.id, stray_reserved.id]

    released = await store.release_strays(W, [kept.id])

    assert sorted(released) == sorted([stray_running.id, stray_reserved.id])
    by_id = {job.id: job for job in await store.get_jobs([j.id for j in claimed])}
    assert (by_id[kept.id].status, by_id[kept.id].worker_id) == (Status.RUNNING, W)
    for job_id in released:
        job = by_id[job_id]
        assert (job.status, job.worker_id, job.started_at) == (Status.PENDING, None, None)
    assert by_id[stray_running.id].retry_count == 1  # a hand-back is not an attempt
    again = await store.fetch_jobs("worker-2", None, 10, clock.now())
    assert sorted(j.id for j in again) == sorted(released)


async def test_other_workers_jobs_and_ended_jobs_are_left_alone(
    store: Store, clock: ManualClock
) -> None:
    mine_done, theirs = make_job(), make_job()
    await store.insert_jobs([mine_done])
    await store.fetch_jobs(W, None, 1, clock.now(), running=1)
    await store.complete_jobs(W, [Completion(mine_done.id, 1, clock.now())])
    await store.insert_jobs([theirs])
    await store.fetch_jobs("worker-2", None, 1, clock.now(), running=1)

    assert await store.release_strays(W, []) == []

    done, held = await store.get_job(mine_done.id), await store.get_job(theirs.id)
    assert done is not None and done.status is Status.COMPLETED
    assert held is not None and (held.status, held.worker_id) == (Status.RUNNING, "worker-2")


async def test_nothing_held_releases_nothing(store: Store) -> None:
    assert await store.release_strays(W, ["no-such-job"]) == []


async def test_released_strays_wake_a_waiting_worker(
    store_factory: StoreFactory, clock: ManualClock
) -> None:
    holder, waiter_store = await store_factory(), await store_factory()
    job = make_job()
    await holder.insert_jobs([job])
    await holder.fetch_jobs(W, None, 1, clock.now())
    assert await waiter_store.fetch_jobs("worker-2", None, 10, clock.now()) == []
    waiting = asyncio.create_task(waiter_store.wait_for_jobs(30))
    for _ in range(5):
        await asyncio.sleep(0)
    assert await holder.release_strays(W, []) == [job.id]
    await asyncio.wait_for(waiting, 5)
    assert [j.id for j in await waiter_store.fetch_jobs("worker-2", None, 10, clock.now())] == [
        job.id
    ]
