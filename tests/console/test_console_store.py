"""The store verbs behind the console, on every backend: per-minute history kept
through pruning, bulk retry and cancel in bounded batches, time-range filters,
queue waits, the jobs ahead of a waiting one, and the workers able to claim it."""

from __future__ import annotations

from datetime import timedelta

from helpers import EPOCH, StoreFactory, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.console import wait_reasons, worker_overviews
from uno.jobs.jobs import Job, Priority, Status
from uno.jobs.queries import JobFilter, MinuteCounts, QueueWait, StatsSnapshot, WorkerMinute
from uno.jobs.store.base import Completion, PruneRequest, Store
from uno.jobs.system import JobSystem
from uno.jobs.workers import TaskRef, WorkerCounts

MINUTE = timedelta(minutes=1)
NOW = EPOCH + timedelta(minutes=30, seconds=20)


def prune_request(now: timedelta | None = None, before_days: int = 1) -> PruneRequest:
    at = NOW + (now or timedelta())
    return PruneRequest(
        runner="r", before=at - timedelta(days=before_days), limit=100, now=at,
        lease_until=at + MINUTE,
    )  # fmt: skip


async def test_history_counts_creations_completions_and_failures_per_minute(
    store: Store,
) -> None:
    await store.insert_jobs(
        [
            make_job(created_at=EPOCH + timedelta(seconds=5), queue_name="mail"),
            make_job(
                created_at=EPOCH + timedelta(seconds=50),
                status=Status.COMPLETED,
                completed_at=EPOCH + MINUTE + timedelta(seconds=1),
            ),
            make_job(
                created_at=EPOCH + MINUTE,
                status=Status.TIMEOUT,
                completed_at=EPOCH + MINUTE + timedelta(seconds=30),
            ),
            make_job(
                created_at=EPOCH + MINUTE,
                status=Status.CANCELLED,
                completed_at=EPOCH + 2 * MINUTE,
            ),
        ]
    )
    history = await store.job_history(EPOCH - MINUTE, NOW)
    assert history == [
        MinuteCounts(EPOCH, "default", enqueued=1),
        MinuteCounts(EPOCH, "mail", enqueued=1),
        MinuteCounts(EPOCH + MINUTE, "default", enqueued=2, completed=1, failed=1),
    ]


async def test_prune_stores_the_minutes_so_they_outlive_their_jobs(store: Store) -> None:
    created = NOW - timedelta(minutes=10)
    waiting = [make_job(queue_name="q", created_at=created) for _ in range(2)]
    failed = make_job(created_at=created, status=Status.FAILED, completed_at=created + MINUTE)
    await store.insert_jobs([*waiting, failed])
    assert await store.prune(prune_request()) is not None
    assert await store.clear_queue("q") == 2
    minute = created.replace(second=0)
    # A day later the minutes are past the recount window: they come from storage.
    history = await store.job_history(NOW - timedelta(hours=2), NOW + timedelta(days=1))
    assert history == [
        MinuteCounts(minute, "default", enqueued=1),
        MinuteCounts(minute, "q", enqueued=2),
        MinuteCounts(minute + MINUTE, "default", failed=1),
    ]
    # A round whose retention has passed those minutes deletes them.
    assert await store.prune(prune_request(now=timedelta(days=3), before_days=1)) is not None
    assert await store.job_history(NOW - timedelta(hours=2), NOW + timedelta(days=3)) == []


async def test_retry_matching_changes_one_bounded_batch_of_matching_jobs(store: Store) -> None:
    failed = [make_job(queue_name="mail", status=Status.FAILED) for _ in range(5)]
    other_queue = make_job(queue_name="web", status=Status.FAILED)
    completed = make_job(queue_name="mail", status=Status.COMPLETED)
    await store.insert_jobs([*failed, other_queue, completed])
    mail = JobFilter(queue_name="mail")
    assert await store.retry_matching(mail, 3, NOW) == 3
    assert await store.retry_matching(mail, 3, NOW) == 2
    assert await store.retry_matching(mail, 3, NOW) == 0
    pending, total = await store.list_jobs(JobFilter(statuses=(Status.PENDING,)))
    assert total == 5 and {j.queue_name for j in pending} == {"mail"}
    assert all(j.scheduled_at == NOW and j.retry_count == 0 for j in pending)
    unchanged = await store.get_jobs([other_queue.id, completed.id])
    assert {j.status for j in unchanged} == {Status.FAILED, Status.COMPLETED}


async def test_cancel_matching_keeps_the_reason_and_leaves_other_statuses(store: Store) -> None:
    waiting = [make_job(task_name="slow") for _ in range(3)]
    running = make_job(task_name="slow", status=Status.RUNNING, worker_id="w")
    await store.insert_jobs([*waiting, running])
    slow = JobFilter(task_name="slow")
    assert await store.cancel_matching(slow, "bulk", 10, NOW) == 3
    cancelled, total = await store.list_jobs(JobFilter(statuses=(Status.CANCELLED,)))
    assert total == 3
    assert all(j.metadata["cancel_reason"] == "bulk" and j.completed_at == NOW for j in cancelled)
    assert (await store.get_job(running.id)).status == Status.RUNNING  # type: ignore[union-attr]


async def test_created_time_range_filters_the_list(store: Store) -> None:
    jobs = [make_job(created_at=EPOCH + i * MINUTE) for i in range(4)]
    await store.insert_jobs(jobs)
    window = JobFilter(created_after=EPOCH + MINUTE, created_before=EPOCH + 3 * MINUTE)
    found, total = await store.list_jobs(window)
    assert total == 2 and {j.id for j in found} == {jobs[1].id, jobs[2].id}


async def test_queue_waits_and_jobs_ahead_follow_claim_order(store: Store) -> None:
    first = make_job(queue_name="q", created_at=EPOCH)
    urgent = make_job(queue_name="q", created_at=EPOCH + MINUTE, priority=Priority.CRITICAL)
    last = make_job(queue_name="q", created_at=EPOCH + 2 * MINUTE)
    later = make_job(queue_name="q", created_at=EPOCH, scheduled_at=NOW + MINUTE)
    elsewhere = make_job(queue_name="other", created_at=EPOCH + 5 * MINUTE)
    await store.insert_jobs([first, urgent, last, later, elsewhere])
    waits = sorted(await store.queue_waits(NOW), key=lambda w: w.queue_name)
    assert waits == [
        QueueWait("other", EPOCH + 5 * MINUTE),
        QueueWait("q", EPOCH),
    ]
    assert await store.jobs_ahead(urgent.id, NOW, 100) == 0
    assert await store.jobs_ahead(first.id, NOW, 100) == 1
    assert await store.jobs_ahead(last.id, NOW, 100) == 2
    assert await store.jobs_ahead(last.id, NOW, 1) == 1
    assert await store.jobs_ahead(later.id, NOW, 100) == 0  # not due: nothing ahead


async def test_wait_reasons_say_which_task_and_version_no_live_worker_has(store: Store) -> None:
    """Per job, not per queue: a worker of the queue without the job's task (or at
    another version) cannot claim it; a gone worker does not count."""
    system = JobSystem(store=store, clock=ManualClock(NOW))
    await system.open()
    try:
        report_v2 = make_job(task_name="report", version="2", queue_name="mail")
        report_any = make_job(task_name="report", queue_name="mail")
        resize = make_job(task_name="resize", queue_name="mail")
        await store.insert_jobs([report_v2, report_any, resize])

        async def codes(job: Job) -> list[tuple[str, str]]:
            return [(r.code, r.message) for r in (await wait_reasons(system, job.id))[1]]

        assert (await codes(resize))[0][0] == "no_worker"
        await store.register_worker("m", "h", 1, ["mail"], NOW, tasks=[TaskRef("report", "1")])
        assert await codes(report_v2) == [
            ("no_task_worker", "No live worker has task 'report' (version '2'): the 1 live "
             "worker(s) of queue 'mail' run other tasks or versions"),
        ]  # fmt: skip
        assert [c for c, _ in await codes(report_any)] == ["jobs_ahead"]  # version 1 runs it
        (code, message), *_ = await codes(resize)
        assert code == "no_task_worker" and "task 'resize'" in message and "version" not in message
        # A worker with the task but for other queues only: said so.
        await store.register_worker("w", "h", 2, ["web"], NOW, tasks=[TaskRef("resize")])
        assert "take other queues only" in (await codes(resize))[0][1]
        # A worker of any queue with every task: nothing is missing; once gone, it is again.
        await store.register_worker("all", "h", 3, None, NOW)
        assert "no_task_worker" not in [c for c, _ in await codes(resize)]
        await store.unregister_worker("all")
        assert (await codes(resize))[0][0] == "no_task_worker"
    finally:
        await system.close()


async def test_heartbeats_keep_each_worker_s_counts_per_minute(store: Store) -> None:
    """The per-worker charts: the heartbeat (no statement per job) writes the worker's
    counts, kept in its minute; the overview takes the differences; pruned with the history."""
    start = NOW.replace(second=0) - 3 * MINUTE
    await store.register_worker("w1", "h", 1, None, start - 2 * MINUTE)
    await store.heartbeat("w1", start - 2 * MINUTE + timedelta(seconds=5))  # before the window
    done = [make_job(status=Status.RUNNING, worker_id="w1") for _ in range(5)]
    await store.insert_jobs(done)
    await store.complete_jobs("w1", [Completion(j.id, None, start) for j in done[:2]])
    await store.heartbeat("w1", start + timedelta(seconds=10), counts=WorkerCounts(2))
    await store.complete_jobs("w1", [Completion(j.id, None, start + MINUTE) for j in done[2:]])
    await store.heartbeat("w1", start + MINUTE + timedelta(seconds=40), counts=WorkerCounts(5))
    await store.unregister_worker("w1")
    rows = await store.worker_minutes(start, NOW)
    assert [(r.minute, r.processed) for r in rows] == [
        (start - 2 * MINUTE, 0), (start, 2), (start + MINUTE, 5),
    ]  # fmt: skip
    charted = worker_overviews(rows, start)
    assert [(w.worker_id, w.throughput.completed) for w in charted] == [("w1", 5)]
    assert [(m, t.completed, t.failed) for m, t in charted[0].history] == [
        (start, 2, 0), (start + MINUTE, 3, 0),
    ]  # fmt: skip
    assert await store.prune(prune_request(now=timedelta(days=3), before_days=1)) is not None
    assert await store.worker_minutes(start - timedelta(days=1), NOW + timedelta(days=3)) == []


async def test_the_stats_snapshot_keeps_the_newest(store: Store) -> None:
    assert await store.load_stats_snapshot() is None
    newer = StatsSnapshot(NOW, 1.5, '{"total_jobs": 2}')
    await store.save_stats_snapshot(newer)
    await store.save_stats_snapshot(StatsSnapshot(NOW - MINUTE, 1.0, '{"total_jobs": 1}'))
    assert await store.load_stats_snapshot() == newer


def test_worker_minutes_start_again_from_zero_when_counts_go_down() -> None:
    """A worker registered again under the same id counts from 0: its first minute
    after that is its own count, not a negative difference."""
    start = EPOCH
    rows = [
        WorkerMinute(start - MINUTE, "w", 10, 1),  # before the window: the base
        WorkerMinute(start, "w", 12, 1),
        WorkerMinute(start + MINUTE, "w", 3, 2),  # registered again
        WorkerMinute(start + 2 * MINUTE, "w", 3, 2),  # idle: left out
        WorkerMinute(start, "idle", 0, 0),
    ]
    (charted,) = worker_overviews(rows, start)
    assert [(m, t.completed, t.failed) for m, t in charted.history] == [
        (start, 2, 0), (start + MINUTE, 1, 2),
    ]  # fmt: skip


async def test_a_new_process_answers_from_the_statistics_another_kept(
    store_factory: StoreFactory,
) -> None:
    """The first overview after a start: costly statistics are kept in the store, and
    a process that starts answers from them while it counts afresh."""
    first_store = await store_factory()
    await first_store.insert_jobs([make_job() for _ in range(3)])
    first = JobSystem(store=first_store, clock=ManualClock(NOW))
    first._stats.costly = 0.0  # as if counting took long: a large table
    assert (await first.stats()).total_jobs == 3
    kept = await first_store.load_stats_snapshot()
    assert kept is not None and kept.computed_at == NOW

    await first_store.insert_jobs([make_job()])
    second = JobSystem(store=await store_factory(), clock=ManualClock(NOW + MINUTE))
    second._stats.costly = 0.0
    assert (await second.stats()).total_jobs == 3  # the kept count, at once
    refreshing = second._stats._running  # and a count behind it
    assert refreshing is not None and (await refreshing).total_jobs == 4
    assert (await second.stats()).total_jobs == 4
    await second.close()
