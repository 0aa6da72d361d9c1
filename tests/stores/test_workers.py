"""Behaviour every Store must have: worker heartbeats and rescue of lost jobs."""

from __future__ import annotations

from datetime import timedelta

from helpers import make_job
from uno.jobs.clock import ManualClock
from uno.jobs.jobs import Priority, Status
from uno.jobs.store.base import RescuedJob, Store


async def test_rescue_takes_back_jobs_of_silent_workers(store: Store, clock: ManualClock) -> None:
    await store.register_worker("dead", "host-a", 101, None, clock.now())
    await store.register_worker("alive", "host-b", 202, ["default"], clock.now())
    reserved = make_job(priority=Priority.CRITICAL, retry_count=1, max_retries=5)
    running_retry = make_job(priority=Priority.HIGH, max_retries=1)
    running_last = make_job(max_retries=0)
    live = make_job(priority=Priority.LOW)
    orphan = make_job(priority=Priority.LOW)
    await store.insert_jobs([reserved, running_retry, running_last])
    await store.fetch_jobs("dead", None, 3, clock.now())
    await store.start_jobs([running_retry.id, running_last.id], "dead", clock.now())
    await store.insert_jobs([live, orphan])
    (got,) = await store.fetch_jobs("alive", None, 1, clock.now())
    await store.start_jobs([got.id], "alive", clock.now())
    await store.fetch_jobs("never-registered", None, 1, clock.now())

    now = clock.advance(60)
    await store.heartbeat("alive", now)
    rescued = await store.rescue_jobs(now - timedelta(seconds=30), now)

    assert sorted(rescued, key=lambda r: r.job_id) == sorted(
        [
            RescuedJob(reserved.id, Status.PENDING),
            RescuedJob(running_retry.id, Status.RETRYING),
            RescuedJob(running_last.id, Status.FAILED),
            RescuedJob(orphan.id, Status.PENDING),
        ],
        key=lambda r: r.job_id,
    )
    back = await store.get_job(reserved.id)
    assert back is not None
    assert (back.status, back.worker_id, back.retry_count) == (Status.PENDING, None, 1)

    retry = await store.get_job(running_retry.id)
    assert retry is not None
    assert (retry.status, retry.retry_count, retry.scheduled_at) == (Status.RETRYING, 1, now)
    assert retry.error is not None and retry.error.type == "WorkerLost"
    assert retry.worker_id is None

    failed = await store.get_job(running_last.id)
    assert failed is not None
    assert (failed.status, failed.retry_count) == (Status.FAILED, 0)
    assert failed.error is not None and failed.error.type == "WorkerLost"
    assert failed.completed_at == now

    untouched = await store.get_job(live.id)
    assert untouched is not None
    assert (untouched.status, untouched.worker_id) == (Status.RUNNING, "alive")

    again = await store.fetch_jobs("alive", None, 10, now)
    assert {j.id for j in again} == {reserved.id, running_retry.id, orphan.id}
    assert await store.rescue_jobs(now - timedelta(seconds=30), now) == []


async def test_a_forgotten_worker_that_heartbeats_is_known_again(
    store: Store, clock: ManualClock
) -> None:
    await store.register_worker("w", "host", 1, None, clock.now())
    assert await store.rescue_jobs(clock.advance(60), clock.now()) == []
    now = clock.advance(1)
    await store.heartbeat("w", now)
    job = make_job()
    await store.insert_jobs([job])
    await store.fetch_jobs("w", None, 1, now)
    assert await store.rescue_jobs(now - timedelta(seconds=30), now) == []


async def test_unregistered_worker_jobs_are_rescued(store: Store, clock: ManualClock) -> None:
    await store.register_worker("w", "host", 1, None, clock.now())
    job = make_job()
    await store.insert_jobs([job])
    await store.fetch_jobs("w", None, 1, clock.now())
    stale_before = clock.now() - timedelta(seconds=30)
    assert await store.rescue_jobs(stale_before, clock.now()) == []
    await store.unregister_worker("w")
    rescued = await store.rescue_jobs(stale_before, clock.now())
    assert rescued == [RescuedJob(job.id, Status.PENDING)]
