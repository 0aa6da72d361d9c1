"""Behaviour every Store must have: job lists, statistics and queues."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpers import EPOCH, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.jobs import Job, JobError, Priority, Status
from uno.jobs.queries import JobFilter, JobStats, QueueInfo
from uno.jobs.store.base import Completion, Failure, Store


async def seed(store: Store, clock: ManualClock) -> dict[str, Job]:
    """Six jobs in several states, queues, priorities, tags and tasks."""
    t = EPOCH
    jobs = {
        "a": make_job(task_name="mail", queue_name="q1", tags=["x", "y"], created_at=t),
        "b": make_job(
            task_name="mail",
            queue_name="q1",
            priority=Priority.HIGH,
            tags=["x"],
            created_at=t + timedelta(seconds=1),
        ),
        "c": make_job(
            task_name="report",
            queue_name="q2",
            priority=Priority.LOW,
            tags=["y"],
            created_at=t + timedelta(seconds=2),
        ),
        "d": make_job(
            task_name="report",
            queue_name="q2",
            priority=Priority.CRITICAL,
            tags=["x", "y", "z"],
            created_at=t + timedelta(seconds=3),
        ),
        "e": make_job(task_name="mail", queue_name="q1", created_at=t + timedelta(seconds=4)),
        "f": make_job(
            task_name="mail",
            queue_name="q2",
            created_at=t + timedelta(seconds=5),
            scheduled_at=t + timedelta(hours=1),
        ),
    }
    await store.insert_jobs(list(jobs.values()))
    now = clock.advance(10)
    # d (critical) completes on w1; b (high) fails on w2; a stays reserved on w1.
    (d,) = await store.fetch_jobs("w1", None, 1, now)
    await store.start_jobs([d.id], "w1", clock.advance(1))
    await store.complete_jobs("w1", [Completion(d.id, "ok", clock.advance(4))])
    (b,) = await store.fetch_jobs("w2", None, 1, clock.now())
    await store.start_jobs([b.id], "w2", clock.now())
    await store.fail_jobs("w2", [Failure(b.id, JobError("E", "x"), clock.advance(2))])
    (a,) = await store.fetch_jobs("w1", None, 1, clock.now())
    assert (d.id, b.id, a.id) == (jobs["d"].id, jobs["b"].id, jobs["a"].id)
    return jobs


def keys(jobs: dict[str, Job], page: list[Job]) -> str:
    by_id = {job.id: key for key, job in jobs.items()}
    return "".join(by_id[job.id] for job in page)


@pytest.mark.parametrize(
    ("job_filter", "expected"),
    [
        (JobFilter(), "fedcba"),
        (JobFilter(order_dir="asc"), "abcdef"),
        (JobFilter(order_dir="ASC"), "abcdef"),
        (JobFilter(queue_name="q2"), "fdc"),
        (JobFilter(statuses=(Status.PENDING,)), "fec"),
        (JobFilter(statuses=(Status.FAILED, Status.COMPLETED)), "db"),
        (JobFilter(priority=Priority.NORMAL), "fea"),
        (JobFilter(tags=("x",)), "dba"),
        (JobFilter(tags=("x", "y")), "da"),
        (JobFilter(tags=("x", "nope")), ""),
        (JobFilter(worker_id="w1"), "da"),
        (JobFilter(task_name="report"), "dc"),
        (JobFilter(task_name="mail", queue_name="q1", statuses=(Status.PENDING,)), "e"),
        (JobFilter(order_by="priority", order_dir="asc"), "dbaefc"),
        (JobFilter(order_by="priority", order_dir="desc"), "cfeabd"),
        (JobFilter(order_by="task_name", order_dir="asc"), "abefcd"),
        (JobFilter(order_by="scheduled_at", order_dir="desc"), "fedcba"),
        (JobFilter(order_by="id", order_dir="asc", limit=0), ""),
    ],
)
async def test_list_jobs_filters_and_order(
    store: Store, clock: ManualClock, job_filter: JobFilter, expected: str
) -> None:
    jobs = await seed(store, clock)
    page, total = await store.list_jobs(job_filter)
    assert keys(jobs, page) == expected
    if job_filter.limit:
        assert total == len(expected)


async def test_list_jobs_orders_by_times_and_status(store: Store, clock: ManualClock) -> None:
    jobs = await seed(store, clock)
    started, _ = await store.list_jobs(JobFilter(order_by="started_at", order_dir="desc"))
    assert keys(jobs, started)[:2] in ("bd", "db")
    completed, _ = await store.list_jobs(
        JobFilter(
            statuses=(Status.COMPLETED, Status.FAILED), order_by="completed_at", order_dir="asc"
        )
    )
    assert keys(jobs, completed) == "db"
    by_status, _ = await store.list_jobs(JobFilter(order_by="status", order_dir="asc"))
    statuses = [job.status.value for job in by_status]
    assert statuses == sorted(statuses)
    by_retries, _ = await store.list_jobs(JobFilter(order_by="retry_count"))
    assert len(by_retries) == 6
    by_queue, _ = await store.list_jobs(JobFilter(order_by="queue_name", order_dir="asc"))
    assert [job.queue_name for job in by_queue] == ["q1"] * 3 + ["q2"] * 3


async def test_list_jobs_pages_with_a_total(store: Store) -> None:
    jobs = [make_job(args=[i], created_at=EPOCH + timedelta(seconds=i)) for i in range(25)]
    await store.insert_jobs(jobs)
    seen: list[str] = []
    for offset in range(0, 30, 10):
        page, total = await store.list_jobs(JobFilter(limit=10, offset=offset, order_dir="asc"))
        assert total == 25
        seen += [job.id for job in page]
    assert seen == [job.id for job in jobs]
    page, total = await store.list_jobs(JobFilter(limit=10, offset=100))
    assert (page, total) == ([], 25)


async def stats_of(store: Store) -> JobStats:
    """Get Job Statistics as the job system computes them from the store's counts."""
    return JobStats.from_groups(await store.job_groups())


async def test_job_stats(store: Store, clock: ManualClock) -> None:
    """Every store counts the same jobs into the same statistics, field for field."""
    assert await stats_of(store) == JobStats(
        by_status=dict.fromkeys(Status, 0), by_priority=dict.fromkeys(Priority, 0)
    )
    await seed(store, clock)
    cancelled = make_job(queue_name="q3", created_at=clock.now())
    await store.insert_jobs([cancelled])
    await store.cancel_job(cancelled.id, None, clock.now())
    # One job in each status the seed leaves out: running, retrying, timeout.
    running, retrying, timed_out = (
        make_job(queue_name="q4", priority=Priority.LOW, created_at=clock.now(), max_retries=1)
        for _ in range(3)
    )
    await store.insert_jobs([running, retrying, timed_out])
    start = clock.advance(1)
    assert len(await store.fetch_jobs("w3", ["q4"], 3, start, running=3)) == 3
    end = clock.advance(2)
    await store.fail_jobs(
        "w3",
        [
            Failure(retrying.id, JobError("E", "x"), end, retry_at=end + timedelta(hours=1)),
            Failure(timed_out.id, JobError("Timeout", "late"), end, status=Status.TIMEOUT),
        ],
    )

    stats = await stats_of(store)
    by_status = {
        "pending": 3,  # c, e, f (f is due later: still waiting)
        "reserved": 1,  # a
        "running": 1,
        "completed": 1,
        "failed": 1,
        "retrying": 1,
        "cancelled": 1,
        "timeout": 1,
    }
    # d: created t+3, started t+11 -> waited 8s, ran 4s; b: created t+1,
    # started t+15 -> waited 14s, ran 2s; the three q4 jobs waited 1s, the
    # timed-out one ran 2s. The retrying one is waiting again: its run counts
    # only once it is finished, whatever a store keeps of its last attempt.
    assert stats == JobStats(
        total_jobs=10,
        pending_jobs=4,
        running_jobs=2,
        completed_jobs=1,
        failed_jobs=2,
        cancelled_jobs=1,
        avg_wait_time=pytest.approx((8 + 14 + 1 + 1 + 1) / 5),
        avg_run_time=pytest.approx((4 + 2 + 2) / 3),
        by_queue={
            "q1": {"total_jobs": 3, "pending_jobs": 1},
            "q2": {"total_jobs": 3, "pending_jobs": 2},
            "q3": {"total_jobs": 1, "pending_jobs": 0},
            "q4": {"total_jobs": 3, "pending_jobs": 1},
        },
        by_priority={"critical": 1, "high": 1, "normal": 4, "low": 4},
        by_status=by_status,
    )
    assert list(stats.by_queue) == ["q1", "q2", "q3", "q4"]


async def test_wait_time_counts_from_the_due_time(store: Store, clock: ManualClock) -> None:
    job = make_job(created_at=EPOCH, scheduled_at=EPOCH + timedelta(seconds=100))
    await store.insert_jobs([job])
    now = clock.advance(103)
    await store.fetch_jobs("w", None, 1, now)
    await store.start_jobs([job.id], "w", now)
    assert (await stats_of(store)).avg_wait_time == pytest.approx(3.0)


async def test_wait_time_of_a_job_awaiting_its_retry_is_that_of_the_attempt_that_ran(
    store: Store, clock: ManualClock
) -> None:
    """A retrying job's scheduled_at is its next attempt, after its last start:
    its wait is still that of the attempt that ran, never negative."""
    held = make_job(created_at=EPOCH, max_retries=3)
    await store.insert_jobs([held])
    await store.fetch_jobs("w", None, 1, clock.advance(5))  # reserved, due for 5 s
    started = clock.advance(2)  # started 7 s after it became due
    await store.start_jobs([held.id], "w", started)
    failed = clock.advance(1)
    error = JobError("Boom", "boom")
    retry_at = failed + timedelta(seconds=60)
    await store.fail_jobs("w", [Failure(held.id, error, failed, retry_at=retry_at)])
    assert (await store.get_job(held.id)).status == Status.RETRYING  # type: ignore[union-attr]
    assert (await stats_of(store)).avg_wait_time == pytest.approx(7.0)

    # The retry starts 3 s after it became due: that attempt's wait replaces it.
    clock.set(retry_at + timedelta(seconds=3))
    await store.fetch_jobs("w", None, 1, clock.now(), running=1)
    assert (await stats_of(store)).avg_wait_time == pytest.approx(3.0)
    later = clock.now() + timedelta(hours=1)
    await store.fail_jobs("w", [Failure(held.id, error, clock.now(), retry_at=later)])
    assert (await stats_of(store)).avg_wait_time == pytest.approx(3.0)


async def test_queues_are_listed_with_waiting_sizes(store: Store, clock: ManualClock) -> None:
    await seed(store, clock)
    await store.pause_queue("q2")
    await store.pause_queue("idle")
    assert await store.list_queues() == [
        QueueInfo("idle", 0, True),
        QueueInfo("q1", 1, False),
        QueueInfo("q2", 2, True),
    ]
    await store.resume_queue("q2")
    assert QueueInfo("q2", 2, False) in await store.list_queues()
    assert await store.paused_queues() == {"idle"}


async def test_clear_queue_deletes_only_its_waiting_jobs(store: Store, clock: ManualClock) -> None:
    jobs = await seed(store, clock)
    retrying = make_job(queue_name="q1", max_retries=2, priority=Priority.CRITICAL)
    await store.insert_jobs([retrying])
    (held,) = await store.fetch_jobs("w3", ["q1"], 1, clock.now(), running=1)
    assert held.id == retrying.id
    failure = Failure(held.id, JobError("E", "x"), clock.now(), retry_at=clock.now())
    await store.fail_jobs("w3", [failure])

    assert await store.clear_queue("q1") == 2  # e (pending) and the retrying job
    left = {job.id for job in (await store.list_jobs(JobFilter()))[0]}
    assert left == {jobs[k].id for k in "abcdf"}
    assert await store.clear_queue("q1") == 0
    assert await store.clear_queue("nope") == 0


async def test_a_queue_stays_known_after_its_jobs_are_gone(
    store: Store, clock: ManualClock
) -> None:
    done = make_job(
        queue_name="mail",
        status=Status.COMPLETED,
        created_at=EPOCH - timedelta(days=2),
        completed_at=EPOCH - timedelta(days=1),
    )
    waiting = make_job(queue_name="mail")
    await store.insert_jobs([done])
    await store.insert_jobs([waiting])
    assert await store.list_queues() == [QueueInfo("mail", 1, False)]
    assert await store.clear_queue("mail") == 1
    assert await store.prune_jobs(EPOCH) == 1
    assert await store.list_jobs(JobFilter()) == ([], 0)
    assert await store.list_queues() == [QueueInfo("mail", 0, False)]
