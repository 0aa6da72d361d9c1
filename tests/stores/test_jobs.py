"""Behaviour every Store must have: inserting, claiming and finishing jobs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from helpers import EPOCH, StoreFactory, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.errors import DuplicateJob, IllegalTransition, JobNotFound
from uno.jobs.jobs import Job, JobError, Priority, Status
from uno.jobs.queries import JobFilter
from uno.jobs.store.base import Completion, Failure, Store

W = "worker-1"


async def claim(store: Store, job: Job, now: datetime, worker: str = W, run: bool = True) -> Job:
    """Insert ``job`` and bring it to reserved (or running) for ``worker``."""
    await store.insert_jobs([job])
    (got,) = await store.fetch_jobs(worker, None, 1, now)
    assert got.id == job.id
    if run:
        await store.start_jobs([job.id], worker, now)
    return got


async def status_of(store: Store, job_id: str) -> Status:
    job = await store.get_job(job_id)
    assert job is not None
    return job.status


# -- insert and read -------------------------------------------------------


async def test_insert_one_round_trips_every_field(store: Store) -> None:
    created = datetime(2026, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)
    job = make_job(
        task_name="reports.build",
        args=[1, "two", {"three": 3}],
        kwargs={"name": "zoë", "items": [1, 2]},
        queue_name="reports",
        priority=Priority.HIGH,
        created_at=created,
        scheduled_at=created + timedelta(minutes=5),
        max_retries=3,
        retry_delay=2.5,
        tags=["a", "b"],
        metadata={"source": "api"},
        timeout=30.0,
        version="1.2",
    )
    await store.insert_jobs([job])
    assert await store.get_job(job.id) == job


async def test_naive_datetimes_are_read_as_utc(store: Store) -> None:
    job = make_job(created_at=datetime(2026, 1, 1, 8), scheduled_at=datetime(2026, 1, 1, 9))
    await store.insert_jobs([job])
    got = await store.get_job(job.id)
    assert got is not None
    assert got.created_at == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert got.scheduled_at == datetime(2026, 1, 1, 9, tzinfo=UTC)


async def test_insert_many_and_get_jobs(store: Store) -> None:
    jobs = [make_job(args=[i]) for i in range(50)]
    await store.insert_jobs(jobs)
    wanted = [jobs[3].id, jobs[17].id, "missing"]
    got = await store.get_jobs(wanted)
    assert sorted(j.id for j in got) == sorted(wanted[:2])
    assert await store.get_jobs([]) == []
    assert await store.get_job("missing") is None
    _, total = await store.list_jobs(_all())
    assert total == 50


async def test_duplicate_id_refuses_the_whole_batch(store: Store) -> None:
    first = make_job()
    await store.insert_jobs([first])
    fresh = make_job()
    with pytest.raises(DuplicateJob):
        await store.insert_jobs([fresh, make_job(id=first.id)])
    assert await store.get_job(fresh.id) is None
    twin = make_job()
    with pytest.raises(DuplicateJob):
        await store.insert_jobs([twin, make_job(id=twin.id)])
    assert await store.get_job(twin.id) is None
    _, total = await store.list_jobs(_all())
    assert total == 1


# -- fetch -----------------------------------------------------------------


async def test_fetch_orders_by_priority_then_due_time_then_insertion(
    store: Store, clock: ManualClock
) -> None:
    t = EPOCH
    low_early = make_job(priority=Priority.LOW, scheduled_at=t - timedelta(hours=1))
    normal_1 = make_job(scheduled_at=t)
    normal_early = make_job(scheduled_at=t - timedelta(seconds=10))
    critical = make_job(priority=Priority.CRITICAL, scheduled_at=t)
    normal_2 = make_job(scheduled_at=t)
    high = make_job(priority=Priority.HIGH, scheduled_at=t)
    await store.insert_jobs([low_early, normal_1, normal_early])
    await store.insert_jobs([critical, normal_2, high])

    first = await store.fetch_jobs(W, None, 2, clock.now())
    rest = await store.fetch_jobs(W, None, 10, clock.now())
    order = [j.id for j in first + rest]
    expected = [critical, high, normal_early, normal_1, normal_2, low_early]
    assert order == [j.id for j in expected]
    assert all(j.status is Status.RESERVED and j.worker_id == W for j in first + rest)
    assert await store.fetch_jobs(W, None, 10, clock.now()) == []


async def test_fetch_starts_the_first_jobs_at_once_and_reserves_the_rest(
    store: Store, clock: ManualClock
) -> None:
    low = make_job(priority=Priority.LOW)
    retried = make_job(status=Status.RETRYING, retry_count=1)
    retried.completed_at = EPOCH - timedelta(seconds=5)
    critical = make_job(priority=Priority.CRITICAL)
    await store.insert_jobs([low, retried, critical])
    clock.advance(1)

    got = await store.fetch_jobs(W, None, 3, clock.now(), running=2)

    assert [j.id for j in got] == [critical.id, retried.id, low.id]
    assert [j.status for j in got] == [Status.RUNNING, Status.RUNNING, Status.RESERVED]
    assert [j.started_at for j in got] == [clock.now(), clock.now(), None]
    stored = {j.id: j for j in await store.get_jobs([j.id for j in got])}
    assert stored[retried.id].status is Status.RUNNING
    assert stored[retried.id].started_at == clock.now()
    assert stored[retried.id].completed_at is None  # the last attempt's end is gone
    assert stored[low.id].status is Status.RESERVED and stored[low.id].worker_id == W
    await store.complete_jobs(W, [Completion(critical.id, 1, clock.now())])
    assert (await store.get_job(critical.id)).status is Status.COMPLETED  # type: ignore[union-attr]


async def test_fetch_skips_jobs_not_yet_due(store: Store, clock: ManualClock) -> None:
    later = make_job(scheduled_at=EPOCH + timedelta(seconds=30))
    await store.insert_jobs([later])
    assert await store.fetch_jobs(W, None, 10, clock.now()) == []
    clock.advance(29.999)
    assert await store.fetch_jobs(W, None, 10, clock.now()) == []
    clock.advance(0.001)
    assert [j.id for j in await store.fetch_jobs(W, None, 10, clock.now())] == [later.id]


async def test_paused_queue_is_skipped_until_resumed(store: Store, clock: ManualClock) -> None:
    paused = make_job(queue_name="slow", priority=Priority.CRITICAL)
    other = make_job(queue_name="fast")
    await store.insert_jobs([paused, other])
    await store.pause_queue("slow")
    assert await store.paused_queues() == {"slow"}
    got = await store.fetch_jobs(W, None, 10, clock.now())
    assert [j.id for j in got] == [other.id]
    assert await store.fetch_jobs(W, ["slow"], 10, clock.now()) == []
    await store.resume_queue("slow")
    assert await store.paused_queues() == set()
    got = await store.fetch_jobs(W, ["slow"], 10, clock.now())
    assert [j.id for j in got] == [paused.id]


async def test_fetch_honours_the_queues_filter(store: Store, clock: ManualClock) -> None:
    jobs = {q: make_job(queue_name=q) for q in ("a", "b", "c")}
    await store.insert_jobs(list(jobs.values()))
    assert await store.fetch_jobs(W, [], 10, clock.now()) == []
    got = await store.fetch_jobs(W, ["a", "c", "nope"], 10, clock.now())
    assert sorted(j.queue_name for j in got) == ["a", "c"]
    got = await store.fetch_jobs(W, None, 10, clock.now())
    assert [j.id for j in got] == [jobs["b"].id]


async def test_concurrent_fetches_never_claim_a_job_twice(
    store_factory: StoreFactory, clock: ManualClock
) -> None:
    stores = [await store_factory() for _ in range(4)]
    jobs = [make_job(args=[i]) for i in range(300)]
    await stores[0].insert_jobs(jobs)

    async def drain(store: Store, worker: str) -> list[str]:
        claimed: list[str] = []
        while batch := await store.fetch_jobs(worker, None, 7, clock.now()):
            assert all(j.worker_id == worker for j in batch)
            claimed += [j.id for j in batch]
        return claimed

    results = await asyncio.gather(*(drain(stores[i % len(stores)], f"w{i}") for i in range(8)))
    claimed = [job_id for batch in results for job_id in batch]
    assert len(claimed) == len(set(claimed)) == len(jobs)
    assert sum(1 for batch in results if batch) > 1


# -- finishing attempts ----------------------------------------------------


async def test_start_and_complete(store: Store, clock: ManualClock) -> None:
    job = await claim(store, make_job(), clock.now(), run=False)
    assert await store.start_jobs([job.id], "someone-else", clock.advance(1)) == []
    assert await status_of(store, job.id) is Status.RESERVED
    started = clock.advance(1)
    assert await store.start_jobs([job.id, "no-such-job"], W, started) == [job.id]
    assert await store.start_jobs([job.id], W, started) == []  # running already
    running = await store.get_job(job.id)
    assert running is not None
    assert (running.status, running.started_at, running.worker_id) == (Status.RUNNING, started, W)

    done = clock.advance(2.5)
    await store.complete_jobs("someone-else", [Completion(job.id, "nope", done)])
    assert await status_of(store, job.id) is Status.RUNNING
    await store.complete_jobs(W, [Completion(job.id, {"answer": [42]}, done)])
    completed = await store.get_job(job.id)
    assert completed is not None
    assert completed.status is Status.COMPLETED
    assert completed.result == {"answer": [42]}
    assert completed.completed_at == done
    assert completed.duration == 2.5


async def test_start_and_fetch_starts_then_claims_in_one_call(
    store: Store, clock: ManualClock
) -> None:
    """A worker's turn: the buffered jobs it started, and the next claim."""
    buffered = await claim(store, make_job(), clock.now(), run=False)
    gone = await claim(store, make_job(), clock.now(), run=False)
    await store.cancel_job(gone.id, None, clock.now())
    waiting = make_job(priority=Priority.HIGH)
    await store.insert_jobs([waiting])
    started_at = clock.advance(1)
    started, claimed = await store.start_and_fetch_jobs(
        W, [buffered.id, gone.id], None, 5, started_at, running=0
    )
    assert started == [buffered.id]
    assert [(j.id, j.status) for j in claimed] == [(waiting.id, Status.RESERVED)]
    running = await store.get_job(buffered.id)
    assert running is not None
    assert (running.status, running.started_at) == (Status.RUNNING, started_at)
    # Nothing to claim (no slot, or no queue): the starts are written all the same.
    again = await claim(store, make_job(), clock.now(), run=False)
    assert await store.start_and_fetch_jobs(W, [again.id], [], 5, clock.now()) == (
        [again.id],
        [],
    )
    assert await store.start_and_fetch_jobs(W, [], None, 5, clock.now()) == ([], [])


async def test_complete_many_in_one_call(store: Store, clock: ManualClock) -> None:
    jobs = [make_job(args=[i]) for i in range(20)]
    await store.insert_jobs(jobs)
    got = await store.fetch_jobs(W, None, 20, clock.now())
    await store.start_jobs([j.id for j in got], W, clock.now())
    await store.complete_jobs(W, [Completion(j.id, j.args[0], clock.now()) for j in got])
    for job in await store.get_jobs([j.id for j in jobs]):
        assert job.status is Status.COMPLETED
        assert job.result == job.args[0]


@pytest.mark.parametrize("final", [Status.FAILED, Status.TIMEOUT, Status.CANCELLED])
async def test_fail_without_retry_ends_the_job(
    store: Store, clock: ManualClock, final: Status
) -> None:
    job = await claim(store, make_job(max_retries=3), clock.now())
    error = JobError("ValueError", "bad input", "Traceback ...")
    finished = clock.advance(3)
    await store.fail_jobs(W, [Failure(job.id, error, finished, status=final)])
    failed = await store.get_job(job.id)
    assert failed is not None
    assert failed.status is final
    assert failed.error == error
    assert failed.completed_at == finished
    assert failed.retry_count == 0


async def test_fail_with_retry_at_makes_the_job_wait_again(
    store: Store, clock: ManualClock
) -> None:
    job = await claim(store, make_job(max_retries=2), clock.now())
    retry_at = clock.now() + timedelta(seconds=60)
    error = JobError("IOError", "flaky")
    await store.fail_jobs(W, [Failure(job.id, error, clock.now(), retry_at=retry_at)])
    waiting = await store.get_job(job.id)
    assert waiting is not None
    assert waiting.status is Status.RETRYING
    assert waiting.retry_count == 1
    assert waiting.scheduled_at == retry_at
    assert waiting.error == error
    assert waiting.worker_id is None

    assert await store.fetch_jobs(W, None, 1, clock.advance(59)) == []
    (again,) = await store.fetch_jobs("worker-2", None, 1, clock.advance(1))
    assert (again.id, again.status, again.retry_count) == (job.id, Status.RESERVED, 1)


async def test_fail_is_ignored_from_a_worker_that_does_not_hold_the_job(
    store: Store, clock: ManualClock
) -> None:
    job = await claim(store, make_job(), clock.now())
    await store.fail_jobs("intruder", [Failure(job.id, JobError("E", "x"), clock.now())])
    assert await status_of(store, job.id) is Status.RUNNING


async def test_release_hands_jobs_back(store: Store, clock: ManualClock) -> None:
    reserved = make_job(retry_count=1, max_retries=3)
    running = make_job()
    await store.insert_jobs([reserved, running])
    await store.fetch_jobs(W, None, 2, clock.now())
    await store.start_jobs([running.id], W, clock.now())
    await store.release_jobs("intruder", [reserved.id])
    assert await status_of(store, reserved.id) is Status.RESERVED
    await store.release_jobs(W, [reserved.id, running.id])
    for job in await store.get_jobs([reserved.id, running.id]):
        assert job.status is Status.PENDING
        assert job.worker_id is None
    back = await store.get_job(reserved.id)
    assert back is not None and back.retry_count == 1
    again = await store.fetch_jobs("worker-2", None, 10, clock.now())
    assert {j.id for j in again} == {reserved.id, running.id}


# -- cancel, retry, prune --------------------------------------------------


async def test_cancel_before_start(store: Store, clock: ManualClock) -> None:
    pending = make_job(metadata={"keep": True})
    await store.insert_jobs([pending])
    now = clock.advance(5)
    cancelled = await store.cancel_job(pending.id, "not needed", now)
    assert cancelled.status is Status.CANCELLED
    assert cancelled.metadata == {"keep": True, "cancel_reason": "not needed"}
    assert cancelled.completed_at == now
    assert await store.get_job(pending.id) == cancelled

    reserved = await claim(store, make_job(), clock.now(), run=False)
    quiet = await store.cancel_job(reserved.id, None, clock.now())
    assert quiet.status is Status.CANCELLED
    assert "cancel_reason" not in quiet.metadata
    await store.start_jobs([reserved.id], W, clock.now())
    assert await status_of(store, reserved.id) is Status.CANCELLED

    retrying = await claim(store, make_job(max_retries=1), clock.now())
    failure = Failure(retrying.id, JobError("E", "x"), clock.now(), retry_at=clock.now())
    await store.fail_jobs(W, [failure])
    assert (await store.cancel_job(retrying.id, "r", clock.now())).status is Status.CANCELLED


async def test_cancel_refuses_finished_jobs(store: Store, clock: ManualClock) -> None:
    running = await claim(store, make_job(), clock.now())
    await store.complete_jobs(W, [Completion(running.id, None, clock.now())])
    with pytest.raises(IllegalTransition):
        await store.cancel_job(running.id, None, clock.now())
    done = await store.get_job(running.id)
    assert done is not None and done.status is Status.COMPLETED
    assert "cancel_reason" not in done.metadata
    with pytest.raises(JobNotFound):
        await store.cancel_job("missing", None, clock.now())


async def test_retry_job_sends_a_finished_job_back_to_pending(
    store: Store, clock: ManualClock
) -> None:
    job = await claim(store, make_job(max_retries=1), clock.now())
    error = JobError("E", "x")
    await store.fail_jobs(W, [Failure(job.id, error, clock.now(), retry_at=clock.now())])
    await store.fetch_jobs(W, None, 1, clock.now())
    await store.start_jobs([job.id], W, clock.now())
    await store.fail_jobs(W, [Failure(job.id, error, clock.advance(1), status=Status.TIMEOUT)])

    now = clock.advance(60)
    retried = await store.retry_job(job.id, now)
    assert retried.status is Status.PENDING
    assert retried.retry_count == 0
    assert retried.error is None and retried.result is None
    assert retried.started_at is None and retried.completed_at is None
    assert retried.worker_id is None
    assert retried.scheduled_at == now
    assert retried.created_at == EPOCH
    assert await store.get_job(job.id) == retried
    assert [j.id for j in await store.fetch_jobs(W, None, 1, now)] == [job.id]


async def test_retry_job_of_cancelled_and_refusals(store: Store, clock: ManualClock) -> None:
    job = make_job()
    await store.insert_jobs([job])
    with pytest.raises(IllegalTransition):
        await store.retry_job(job.id, clock.now())
    await store.cancel_job(job.id, "oops", clock.now())
    retried = await store.retry_job(job.id, clock.now())
    assert retried.status is Status.PENDING
    assert "cancel_reason" not in retried.metadata
    with pytest.raises(JobNotFound):
        await store.retry_job("missing", clock.now())

    done = await claim(store, make_job(priority=Priority.CRITICAL), clock.now(), worker="w2")
    await store.complete_jobs("w2", [Completion(done.id, 1, clock.now())])
    with pytest.raises(IllegalTransition):
        await store.retry_job(done.id, clock.now())


async def test_prune_deletes_old_finished_jobs_only(store: Store, clock: ManualClock) -> None:
    old_done = await claim(store, make_job(), clock.now())
    await store.complete_jobs(W, [Completion(old_done.id, None, clock.now())])
    old_failed = await claim(store, make_job(), clock.now())
    await store.fail_jobs(W, [Failure(old_failed.id, JobError("E", "x"), clock.now())])
    old_cancelled = make_job()
    await store.insert_jobs([old_cancelled])
    await store.cancel_job(old_cancelled.id, None, clock.now())
    old_pending = make_job()
    await store.insert_jobs([old_pending])

    cutoff = clock.advance(3600)
    recent = await claim(store, make_job(priority=Priority.CRITICAL), clock.now())
    await store.complete_jobs(W, [Completion(recent.id, None, clock.advance(1))])

    assert await store.prune_jobs(cutoff) == 3
    left = {j.id for j in (await store.list_jobs(_all()))[0]}
    assert left == {old_pending.id, recent.id}
    assert await store.prune_jobs(cutoff) == 0


def _all() -> JobFilter:
    return JobFilter(limit=1000)
