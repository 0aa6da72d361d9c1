"""Behaviour every Store must have: worker heartbeats and rescue of lost jobs."""

from __future__ import annotations

from datetime import timedelta

from helpers import EPOCH, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.jobs import JobError, Priority, Status
from uno.jobs.store.base import Completion, Failure, RescuedJob, Store


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
    assert (retry.status, retry.retry_count) == (Status.RETRYING, 1)
    assert retry.scheduled_at == running_retry.scheduled_at  # keeps its place in the queue
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


async def test_a_rescued_job_keeps_its_place_in_the_queue(store: Store, clock: ManualClock) -> None:
    await store.register_worker("dead", "host-a", 1, None, clock.now())
    lost_running = make_job(max_retries=3)
    lost_reserved = make_job()
    await store.insert_jobs([lost_running, lost_reserved])
    await store.fetch_jobs("dead", None, 2, clock.now(), running=1)
    backlog = [make_job() for _ in range(3)]
    await store.insert_jobs(backlog)

    now = clock.advance(60)
    rescued = await store.rescue_jobs(now - timedelta(seconds=30), now)
    assert {r.job_id: r.status for r in rescued} == {
        lost_running.id: Status.RETRYING,
        lost_reserved.id: Status.PENDING,
    }

    # Due as long as the backlog and enqueued before it, the rescued jobs come first.
    claimed = await store.fetch_jobs("alive", None, 5, now)
    assert [j.id for j in claimed] == [lost_running.id, lost_reserved.id] + [j.id for j in backlog]
    assert claimed[0].scheduled_at == EPOCH


async def test_outcomes_of_rescued_jobs_are_refused_by_id(store: Store, clock: ManualClock) -> None:
    await store.register_worker("slow", "host-a", 1, None, clock.now())
    jobs = [make_job(max_retries=3, queue_name="ab"[i // 2]) for i in range(4)]
    await store.insert_jobs(jobs)
    await store.fetch_jobs("slow", ["a"], 2, clock.now(), running=2)
    now = clock.advance(60)
    lost = await store.rescue_jobs(now - timedelta(seconds=30), now)
    assert {r.job_id for r in lost} == {jobs[0].id, jobs[1].id}
    await store.register_worker("slow", "host-a", 1, None, now)
    await store.fetch_jobs("slow", ["b"], 2, now, running=2)

    done = [Completion(j.id, "ok", now) for j in (jobs[0], jobs[2])]
    assert await store.complete_jobs("slow", done) == [jobs[0].id]
    failed = [Failure(j.id, JobError("E", "x"), now) for j in (jobs[1], jobs[3])]
    assert await store.fail_jobs("slow", failed) == [jobs[1].id]
    assert await store.complete_jobs("slow", []) == []
    assert await store.fail_jobs("slow", []) == []

    states = {j.id: j.status for j in await store.get_jobs([j.id for j in jobs])}
    assert states == {
        jobs[0].id: Status.RETRYING,
        jobs[1].id: Status.RETRYING,
        jobs[2].id: Status.COMPLETED,
        jobs[3].id: Status.FAILED,
    }
