"""Job control in every store: cancelling running jobs, attempt history, progress,
workers and the claims that follow their task sets."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpers import EPOCH, StoreFactory, eventually, make_job
from uno.jobs.attempts import Outcome
from uno.jobs.clock import ManualClock
from uno.jobs.jobs import JobError, Status
from uno.jobs.store.base import Completion, Failure, PruneRequest, Store
from uno.jobs.workers import TaskRef, WorkerCounts, WorkerState, task_backlogs

W = "worker-1"


async def _running(store: Store, clock: ManualClock, worker: str = W, **fields: object) -> str:
    job = make_job(**fields)
    await store.insert_jobs([job])
    (got,) = await store.fetch_jobs(worker, None, 1, clock.now(), running=1)
    assert got.id == job.id
    return job.id


async def test_cancel_of_a_running_job_is_heard_by_another_store(
    store_factory: StoreFactory, clock: ManualClock
) -> None:
    api, worker = await store_factory(), await store_factory()
    await worker.register_worker(W, "host", 1, None, clock.now())
    heard: list[str | None] = []
    stop = await worker.watch_cancels(heard.append)
    await worker.wait_for_jobs(0.01)  # the worker listens as it does when idle
    job_id = await _running(worker, clock)

    cancelled = await api.cancel_job(job_id, "operator said so", clock.advance(2))

    assert cancelled.status is Status.CANCELLED
    assert cancelled.worker_id is None
    assert cancelled.metadata["cancel_reason"] == "operator said so"
    await eventually(lambda: _true(job_id in heard))
    # The worker's outcome, reported afterwards, is dropped.
    assert await worker.complete_jobs(W, [Completion(job_id, 1, clock.now())]) == [job_id]
    stored = await api.get_job(job_id)
    assert stored is not None and stored.status is Status.CANCELLED
    (attempt,) = await api.list_attempts(job_id)
    assert (attempt.number, attempt.outcome, attempt.worker_id) == (1, Outcome.CANCELLED, W)
    assert attempt.started_at == EPOCH and attempt.finished_at == EPOCH + timedelta(seconds=2)
    stop()


async def _true(value: bool) -> bool:
    return value


async def test_cancel_of_a_waiting_job_signals_nothing(
    store_factory: StoreFactory, clock: ManualClock
) -> None:
    api, worker = await store_factory(), await store_factory()
    heard: list[str | None] = []
    await worker.watch_cancels(heard.append)
    running_id = await _running(worker, clock)
    waiting = make_job()
    await api.insert_jobs([waiting])
    await api.cancel_job(waiting.id, None, clock.now())
    await api.cancel_job(running_id, None, clock.now())
    await eventually(lambda: _true(running_id in heard))
    assert waiting.id not in heard
    assert await api.list_attempts(waiting.id) == []


async def test_cancel_of_a_reserved_job_is_heard_and_records_no_attempt(
    store_factory: StoreFactory, clock: ManualClock
) -> None:
    """A worker may hold a reserved job in its claim-ahead buffer: it is told, so that
    it drops the job instead of starting it."""
    api, worker = await store_factory(), await store_factory()
    heard: list[str | None] = []
    await worker.watch_cancels(heard.append)
    job = make_job()
    await worker.insert_jobs([job])
    (got,) = await worker.fetch_jobs(W, None, 1, clock.now(), running=0)
    assert got.status is Status.RESERVED
    await api.cancel_job(job.id, None, clock.now())
    await eventually(lambda: _true(job.id in heard))
    assert await api.list_attempts(job.id) == []
    assert await worker.start_jobs([job.id], W, clock.now()) == []


async def test_two_failures_then_a_success_leave_three_attempts(
    store: Store, clock: ManualClock
) -> None:
    await store.register_worker(W, "host", 1, None, clock.now())
    job_id = await _running(store, clock, max_retries=5)
    holder = W
    for number in (1, 2):  # the first attempt runs on W, the next ones on worker-2
        at = clock.advance(1)
        error = JobError("ValueError", f"bad {number}", f"Traceback {number}")
        # As the worker reports a failure with a retry: status retrying.
        failure = Failure(job_id, error, at, Status.RETRYING, retry_at=at)
        await store.fail_jobs(holder, [failure])
        (again,) = await store.fetch_jobs("worker-2", None, 1, at, running=1)
        assert again.id == job_id
        holder = "worker-2"
    await store.complete_jobs("worker-2", [Completion(job_id, "ok", clock.advance(1))])

    attempts = await store.list_attempts(job_id)
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.outcome for a in attempts] == [Outcome.FAILED, Outcome.FAILED, Outcome.COMPLETED]
    assert [a.worker_id for a in attempts] == [W, "worker-2", "worker-2"]
    assert [a.error.message if a.error else None for a in attempts] == ["bad 1", "bad 2", None]
    assert attempts[1].error is not None and attempts[1].error.traceback == "Traceback 2"
    assert attempts[2].duration == 1.0
    job = await store.get_job(job_id)
    assert job is not None and job.status is Status.COMPLETED and job.error is None


async def test_the_worker_s_counts_are_what_its_beats_and_its_stop_write(
    store: Store, clock: ManualClock
) -> None:
    """No outcome statement touches the worker's row: the worker counts in memory and
    its heartbeat writes the counts since it registered, its stop the final ones."""
    await store.register_worker(W, "host", 1, None, clock.now())
    done, lost = await _running(store, clock), await _running(store, clock)
    await store.complete_jobs(W, [Completion(done, None, clock.advance(1))])
    counts = await store.get_worker(W)
    assert counts is not None and (counts.processed, counts.failed) == (0, 0)

    await store.heartbeat(W, clock.advance(1), counts=WorkerCounts(3, 1))
    await store.heartbeat(W, clock.advance(1))  # a beat without counts keeps them
    counts = await store.get_worker(W)
    assert counts is not None and (counts.processed, counts.failed) == (3, 1)

    # Rescued and pruned while silent: the next beat registers it again, counts and all.
    now = clock.advance(60)
    assert [r.job_id for r in await store.rescue_jobs(now - timedelta(seconds=30), now)] == [lost]
    await store.prune(PruneRequest("runner", now, 100, now, now))
    assert await store.get_worker(W) is None
    await store.heartbeat(W, clock.advance(1), counts=WorkerCounts(4, 2))
    back = await store.get_worker(W)
    assert back is not None and (back.processed, back.failed, back.gone_at) == (4, 2, None)

    await store.unregister_worker(W, counts=WorkerCounts(6, 2))
    gone = await store.get_worker(W)
    assert gone is not None and (gone.processed, gone.failed) == (6, 2)
    assert gone.gone_at is not None
    # Registered again (a worker started anew under the same id): from 0.
    await store.register_worker(W, "host", 1, None, clock.advance(1))
    again = await store.get_worker(W)
    assert again is not None and (again.processed, again.failed) == (0, 0)


async def test_the_history_keeps_the_last_attempts_only(store: Store, clock: ManualClock) -> None:
    store.attempts_kept = 2  # type: ignore[attr-defined]
    job_id = await _running(store, clock, max_retries=10)
    for number in range(4):
        at = clock.advance(1)
        error = JobError("E", str(number))
        await store.fail_jobs(W, [Failure(job_id, error, at, retry_at=at)])
        await store.fetch_jobs(W, None, 1, at, running=1)
    attempts = await store.list_attempts(job_id)
    assert [(a.number, a.error.message if a.error else None) for a in attempts] == [
        (3, "2"),
        (4, "3"),
    ]


async def test_a_rescued_running_job_records_a_lost_attempt(
    store: Store, clock: ManualClock
) -> None:
    await store.register_worker(W, "host", 1, None, clock.now())
    job_id = await _running(store, clock, max_retries=1)
    now = clock.advance(60)
    await store.rescue_jobs(now - timedelta(seconds=30), now)
    (attempt,) = await store.list_attempts(job_id)
    assert attempt.outcome is Outcome.LOST and attempt.worker_id == W
    assert attempt.error is not None and attempt.error.type == "WorkerLost"
    worker = await store.get_worker(W)
    assert worker is not None and worker.gone_at == EPOCH  # kept, marked gone
    assert worker.state(now, 10, 30) is WorkerState.GONE


async def test_progress_is_written_by_the_worker_running_the_job_only(
    store: Store, clock: ManualClock
) -> None:
    job_id = await _running(store, clock)
    assert await store.get_progress(job_id) is None
    assert await store.report_progress(job_id, W, 0.25, "a quarter", clock.advance(1))
    assert not await store.report_progress(job_id, "intruder", 0.9, "no", clock.advance(1))
    assert await store.report_progress(job_id, W, 0.5, None, clock.advance(1))
    progress = await store.get_progress(job_id)
    assert progress is not None
    assert (progress.fraction, progress.message) == (0.5, None)
    assert progress.updated_at == EPOCH + timedelta(seconds=3)
    await store.complete_jobs(W, [Completion(job_id, None, clock.now())])
    assert not await store.report_progress(job_id, W, 1.0, "late", clock.advance(1))


async def test_workers_are_listed_with_tasks_counts_and_running_jobs(
    store: Store, clock: ManualClock
) -> None:
    tasks = [TaskRef("b", "2"), TaskRef("a", "1")]
    await store.register_worker(W, "host-a", 11, ["q"], clock.now(), tasks=tasks)
    await store.register_worker("w2", "host-b", 22, None, clock.advance(1))
    first = await _running(store, clock, queue_name="q", task_name="a")
    second = await _running(store, clock, queue_name="q", task_name="a")
    await store.complete_jobs(W, [Completion(first, None, clock.now())])
    await store.heartbeat(W, clock.advance(5), counts=WorkerCounts(1))

    one, two = await store.list_workers()
    assert (one.id, one.hostname, one.pid, one.queues) == (W, "host-a", 11, ["q"])
    assert one.tasks == [TaskRef("a", "1"), TaskRef("b", "2")]
    assert (one.processed, one.failed, one.running_jobs) == (1, 0, [second])
    assert one.started_at == EPOCH and one.heartbeat_at == EPOCH + timedelta(seconds=6)
    assert (two.id, two.tasks, two.queues, two.running_jobs) == ("w2", None, None, [])
    assert one.state(clock.now(), 10, 30) is WorkerState.ALIVE
    assert two.state(clock.now(), 4, 30) is WorkerState.SILENT
    assert await store.get_worker("missing") is None

    await store.unregister_worker("w2")
    gone = await store.get_worker("w2")
    assert gone is not None and gone.gone_at == EPOCH + timedelta(seconds=1)
    await store.heartbeat("w2", clock.advance(1))  # a worker that comes back is alive again
    back = await store.get_worker("w2")
    assert back is not None and back.gone_at is None


async def test_gone_workers_are_pruned_after_the_retention(
    store: Store, clock: ManualClock
) -> None:
    await store.register_worker("old", "h", 1, None, clock.now())
    await store.unregister_worker("old")
    await store.register_worker("live", "h", 2, None, clock.advance(100))
    now = clock.now()
    request = PruneRequest("runner", now - timedelta(seconds=50), 100, now, now)
    pruned = await store.prune(request)
    assert pruned is not None and pruned.workers == 1
    assert [w.id for w in await store.list_workers()] == ["live"]


async def test_a_worker_claims_only_the_tasks_it_has(store: Store, clock: ManualClock) -> None:
    a_any = make_job(task_name="a")
    b_v1 = make_job(task_name="b", version="1")
    b_v2 = make_job(task_name="b", version="2")
    c_any = make_job(task_name="c")
    await store.insert_jobs([a_any, b_v1, b_v2, c_any])
    v1 = [TaskRef("a", "1"), TaskRef("b", "1")]
    got = await store.fetch_jobs(W, None, 10, clock.now(), tasks=v1)
    assert {j.id for j in got} == {a_any.id, b_v1.id}
    assert await store.fetch_jobs(W, None, 10, clock.now(), tasks=v1) == []
    assert await store.fetch_jobs(W, None, 10, clock.now(), tasks=[]) == []
    (v2_job,) = await store.fetch_jobs("w2", None, 10, clock.now(), tasks=[TaskRef("b", "2")])
    assert v2_job.id == b_v2.id
    (rest,) = await store.fetch_jobs("w3", None, 10, clock.now())  # no task set: any
    assert rest.id == c_any.id


async def test_the_task_filter_follows_the_list_and_takes_any_name(
    store: Store, clock: ManualClock
) -> None:
    """The task list is encoded once per list (``store/served.py``): a list changed in
    place is seen; names and versions with quotes, backslashes, commas and braces are
    matched as they are."""
    odd, version = ['we"ird\\name', "a,b{c}", "NULL", " spaced "], '1,"x"'
    jobs = [make_job(task_name=name, version=version) for name in odd]
    await store.insert_jobs(jobs)
    served = [TaskRef(odd[0], version), TaskRef(odd[1], version)]
    got = await store.fetch_jobs(W, None, 10, clock.now(), tasks=served)
    assert {j.task_name for j in got} == set(odd[:2])
    served[:] = [TaskRef(odd[2], version), TaskRef(odd[3], "other")]
    (got_null,) = await store.fetch_jobs(W, None, 10, clock.now(), tasks=served)
    assert got_null.task_name == "NULL"
    served.append(TaskRef(odd[3], version))
    (got_spaced,) = await store.fetch_jobs(W, None, 10, clock.now(), tasks=tuple(served))
    assert got_spaced.task_name == " spaced "


async def test_waiting_jobs_no_live_worker_can_run_are_told_apart(
    store: Store, clock: ManualClock
) -> None:
    await store.insert_jobs(
        [make_job(task_name="a"), make_job(task_name="a"), make_job(task_name="b", version="2")]
    )
    waiting = await store.waiting_tasks()
    assert sorted(waiting, key=str) == sorted([("a", None, 2), ("b", "2", 1)], key=str)
    backlogs = task_backlogs(waiting, [[TaskRef("a", "1"), TaskRef("b", "1")]])
    assert [(b.task_name, b.version, b.waiting, b.runnable) for b in backlogs] == [
        ("a", None, 2, True),
        ("b", "2", 1, False),
    ]


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan"), True, "half"])
def test_progress_out_of_range_is_refused(fraction: object) -> None:
    from uno.jobs.attempts import check_progress
    from uno.jobs.errors import ValidationError

    with pytest.raises(ValidationError):
        check_progress(fraction, None)  # type: ignore[arg-type]


def test_a_long_progress_message_is_cut() -> None:
    from uno.jobs.attempts import check_progress
    from uno.jobs.limits import Limits

    _, message = check_progress(0.5, "x" * 5000, Limits(max_progress_chars=100))
    assert message is not None and len(message) <= 100 and message.endswith("cut]")


async def test_a_timed_out_attempt_followed_by_a_retry_is_a_timeout(
    store: Store, clock: ManualClock
) -> None:
    from uno.jobs.attempts import TIMED_OUT
    from uno.jobs.worker.execute import JobTimedOut

    assert JobTimedOut.__name__ == TIMED_OUT  # the name the worker gives the error
    job_id = await _running(store, clock, max_retries=1)
    error = JobError(TIMED_OUT, "Job exceeded its timeout of 1 seconds")
    at = clock.advance(1)
    await store.fail_jobs(W, [Failure(job_id, error, at, Status.RETRYING, retry_at=at)])
    (attempt,) = await store.list_attempts(job_id)
    assert attempt.outcome is Outcome.TIMEOUT
