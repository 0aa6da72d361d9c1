"""A job never stays running because its outcome could not be settled, on every backend.

Each test builds a job that trips one step between "the task returned" and "the
store has the outcome": a retry time out of range, a result that is not JSON or
past the limits, an error text no store can keep, an exception that cannot
describe itself, one outcome of a batch that the store refuses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from helpers import make_job
from uno.jobs import JobSystem, ManualClock, Retry, Settings, Status
from uno.jobs.errors import StoreUnavailable
from uno.jobs.jobs import Job, JobError
from uno.jobs.limits import Limits
from uno.jobs.retry import RetryPolicy
from uno.jobs.store.base import Completion, Failure, Store
from uno.jobs.worker import Worker
from uno.jobs.worker.completer import OutcomesPending, write_outcomes

LIMITS = Limits(max_result_bytes=2000, max_json_depth=8, max_error_chars=500)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken too")


@pytest.fixture
async def system(store: Store, clock: ManualClock) -> AsyncIterator[JobSystem]:
    jobs = JobSystem(store=store, clock=clock, settings=Settings(concurrency=8, limits=LIMITS))

    @jobs.task(max_retries=0)
    async def fail(message: str = "boom") -> None:
        raise ValueError(message)

    @jobs.task(max_retries=0)
    async def give(value: Any) -> Any:
        return value

    @jobs.task(max_retries=0)
    async def give_set() -> Any:
        return {1, 2}

    @jobs.task(max_retries=0)
    def give_huge_int_inside() -> Any:
        return {"n": [10**5000]}  # passes the walk; only encoding it fails

    @jobs.task(max_retries=0)
    async def unprintable() -> None:
        raise Unprintable()

    @jobs.task(max_retries=3)
    async def retry_in(delay: str) -> None:
        raise Retry(float(delay))  # "inf" and "nan" travel as text: args are JSON

    @jobs.task(max_retries=3, backoff=True)
    async def fail_with_backoff() -> None:
        raise ValueError("again")

    @jobs.task(max_retries=0)
    async def give_nul() -> Any:
        return {"text": "nul \x00 here"}

    @jobs.task(max_retries=0)
    async def fail_unstorably() -> None:
        raise ValueError("bad \x00 byte and \ud800 half a pair " + "y" * 1000)

    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


async def run_all(system: JobSystem, jobs: Sequence[Job]) -> list[Job]:
    """Insert ``jobs`` as they are (no domain checks), run them once, read them back."""
    await system.store.insert_jobs(jobs)
    async with Worker(system, worker_id="w", concurrency=8) as worker:
        assert await worker.run_once() == len(jobs)
    found = {job.id: job for job in await system.store.get_jobs([job.id for job in jobs])}
    return [found[job.id] for job in jobs]


def assert_settled(job: Job, *statuses: Status) -> JobError:
    assert job.status in statuses, f"{job.id} is {job.status}"
    assert job.error is not None
    return job.error


async def test_a_retry_delay_the_domain_would_refuse_cannot_strand_the_job(
    system: JobSystem, clock: ManualClock
) -> None:
    huge = make_job(task_name="fail", max_retries=1, retry_delay=1e12)
    (after,) = await run_all(system, [huge])
    error = assert_settled(after, Status.RETRYING)
    assert error.type == "ValueError"
    assert after.scheduled_at is not None
    assert (after.scheduled_at - clock.now()).total_seconds() == LIMITS.max_retry_delay


async def test_retry_delays_out_of_range_are_capped_or_fail_the_attempt(
    system: JobSystem, clock: ManualClock
) -> None:
    endless = make_job(task_name="retry_in", args=["inf"], max_retries=3)
    nonsense = make_job(task_name="retry_in", args=["nan"], max_retries=3)
    capped, failed = await run_all(system, [endless, nonsense])
    assert_settled(capped, Status.RETRYING)
    assert capped.scheduled_at is not None
    assert (capped.scheduled_at - clock.now()).total_seconds() == LIMITS.max_retry_delay
    error = assert_settled(failed, Status.FAILED)
    assert error.type == "OutcomeNotRecorded"
    assert "not a number" in error.message


async def test_a_backoff_past_any_float_waits_the_longest_delay_allowed(
    system: JobSystem, clock: ManualClock
) -> None:
    """The backoff's own cap (``RetryPolicy.max_delay``), which is within the limit."""
    late = make_job(task_name="fail_with_backoff", retry_count=5000, max_retries=10_000)
    (after,) = await run_all(system, [late])
    assert assert_settled(after, Status.RETRYING).type == "ValueError"
    assert after.retry_count == 5001
    assert after.scheduled_at is not None
    longest = min(RetryPolicy().max_delay, LIMITS.max_retry_delay)
    assert (after.scheduled_at - clock.now()).total_seconds() == longest


async def test_results_past_the_limits_fail_the_attempt(system: JobSystem) -> None:
    deep: Any = "bottom"
    for _ in range(LIMITS.max_json_depth + 1):
        deep = [deep]
    jobs = [
        make_job(task_name="give_set"),
        make_job(task_name="give", args=["x" * (LIMITS.max_result_bytes + 1)]),
        make_job(task_name="give", args=[deep]),
        make_job(task_name="give_nul"),
        make_job(task_name="give", args=[{"ok": [1, 2, 3]}]),
    ]
    unencodable, too_large, too_deep, nul, fine = await run_all(system, jobs)
    assert "not JSON-serialisable" in assert_settled(unencodable, Status.FAILED).message
    assert "2000" in assert_settled(too_large, Status.FAILED).message
    assert "deeper than 8" in assert_settled(too_deep, Status.FAILED).message
    assert "NUL" in assert_settled(nul, Status.FAILED).message
    assert all(
        job.error is not None and job.error.type == "ResultNotSerializable"
        for job in (unencodable, too_large, too_deep, nul)
    )
    assert (fine.status, fine.result) == (Status.COMPLETED, {"ok": [1, 2, 3]})


async def test_error_texts_are_made_storable(system: JobSystem) -> None:
    jobs = [make_job(task_name="fail_unstorably"), make_job(task_name="unprintable")]
    raw, unprintable = await run_all(system, jobs)
    error = assert_settled(raw, Status.FAILED)
    assert error.type == "ValueError"
    assert "\x00" not in error.message and "\ud800" not in error.message
    assert error.message.startswith("bad \\x00 byte and \ufffd half a pair")
    assert len(error.message) <= LIMITS.max_error_chars
    assert error.traceback is not None and len(error.traceback) <= LIMITS.max_error_chars
    assert "\x00" not in error.traceback
    error = assert_settled(unprintable, Status.FAILED)
    assert error.type == "Unprintable"
    assert "could not be described" in error.message


async def test_one_outcome_the_store_refuses_does_not_hold_back_the_batch(
    system: JobSystem, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = [
        make_job(task_name="give", args=[1]),
        make_job(task_name="give_huge_int_inside"),
        make_job(task_name="give", args=[3]),
        make_job(task_name="fail"),
    ]
    with caplog.at_level(logging.ERROR, logger="uno.jobs.worker"):
        first, bad, third, failed = await run_all(system, jobs)
    assert (first.status, first.result) == (Status.COMPLETED, 1)
    assert (third.status, third.result) == (Status.COMPLETED, 3)
    assert assert_settled(failed, Status.FAILED).type == "ValueError"
    error = assert_settled(bad, Status.FAILED)
    assert error.type == "OutcomeNotRecorded"
    assert any(bad.id in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


class RefusingStore:
    """Delegates to a real store, but refuses some job ids (a data error) or everything."""

    def __init__(self, store: Store, refuse: set[str], unreachable: bool = False) -> None:
        self.store = store
        self.refuse = refuse
        self.unreachable = unreachable

    def _check(self, ids: list[str]) -> None:
        if self.unreachable:
            raise StoreUnavailable("the database is down")
        if self.refuse & set(ids):
            raise ValueError("cannot encode this one")

    async def complete_jobs(self, worker_id: str, completions: Sequence[Completion]) -> list[str]:
        self._check([c.job_id for c in completions])
        return await self.store.complete_jobs(worker_id, completions)

    async def fail_jobs(self, worker_id: str, failures: Sequence[Failure]) -> list[str]:
        self._check([f.job_id for f in failures if f.error.type != "OutcomeNotRecorded"])
        return await self.store.fail_jobs(worker_id, failures)


async def held_jobs(store: Store, clock: ManualClock, count: int) -> list[Job]:
    jobs = [make_job() for _ in range(count)]
    await store.insert_jobs(jobs)
    await store.register_worker("w", "host", 1, None, clock.now())
    return await store.fetch_jobs("w", None, count, clock.now(), running=count)


async def test_write_outcomes_isolates_a_refused_outcome(store: Store, clock: ManualClock) -> None:
    a, b, c, d = await held_jobs(store, clock, 4)
    refusing: Any = RefusingStore(store, refuse={b.id, d.id})
    done = [Completion(a.id, "a", clock.now()), Completion(b.id, "b", clock.now())]
    failed = [
        Failure(c.id, JobError("E", "c"), clock.now()),
        Failure(d.id, JobError("E", "d"), clock.now()),
    ]
    written = await write_outcomes(refusing, "w", done, failed, clock.now(), Limits())
    assert written.refused == []
    assert set(written.replaced) == {b.id, d.id}
    states = {
        j.id: (j.status, j.error and j.error.type)
        for j in await store.get_jobs([a.id, b.id, c.id, d.id])
    }
    assert states == {
        a.id: (Status.COMPLETED, None),
        b.id: (Status.FAILED, "OutcomeNotRecorded"),
        c.id: (Status.FAILED, "E"),
        d.id: (Status.FAILED, "OutcomeNotRecorded"),
    }


async def test_write_outcomes_keeps_everything_while_the_store_is_down(
    store: Store, clock: ManualClock
) -> None:
    a, b = await held_jobs(store, clock, 2)
    down: Any = RefusingStore(store, refuse=set(), unreachable=True)
    done = [Completion(a.id, "a", clock.now())]
    failed = [Failure(b.id, JobError("E", "b"), clock.now())]
    with pytest.raises(OutcomesPending) as pending:
        await write_outcomes(down, "w", done, failed, clock.now(), Limits())
    assert pending.value.completions == done
    assert pending.value.failures == failed
    assert {j.status for j in await store.get_jobs([a.id, b.id])} == {Status.RUNNING}
