"""Maintenance on every backend: bounded rounds of pruning, by one runner at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from helpers import EPOCH, StoreFactory, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.jobs import Job, Status
from uno.jobs.scheduler import Maintenance
from uno.jobs.schedules import Schedule
from uno.jobs.settings import Settings
from uno.jobs.store.base import JobFilter, Pruned, PruneRequest, Store
from uno.jobs.system import JobSystem

DAY = timedelta(days=1)
BEFORE = EPOCH - DAY
FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.TIMEOUT)


def request(runner: str, limit: int, now: datetime = EPOCH) -> PruneRequest:
    return PruneRequest(
        runner=runner, before=BEFORE, limit=limit, now=now, lease_until=now + timedelta(minutes=1)
    )


def old_finished(count: int) -> list[Job]:
    return [
        make_job(
            status=FINISHED[i % len(FINISHED)],
            created_at=BEFORE - timedelta(days=2, seconds=i),
            completed_at=BEFORE - timedelta(days=1, seconds=i),
        )
        for i in range(count)
    ]


async def stored_ids(store: Store) -> set[str]:
    jobs, _ = await store.list_jobs(JobFilter(limit=1000))
    return {job.id for job in jobs}


async def test_prune_deletes_at_most_the_limit_per_round_and_all_old_in_the_end(
    store: Store,
) -> None:
    kept = [
        make_job(status=Status.COMPLETED, created_at=BEFORE, completed_at=EPOCH),  # recent end
        make_job(created_at=BEFORE - 30 * DAY),  # old but waiting
        # waiting for a retry, its last attempt ended long ago
        make_job(
            status=Status.RETRYING, created_at=BEFORE - 30 * DAY, completed_at=BEFORE - 29 * DAY
        ),
    ]
    await store.insert_jobs([*old_finished(25), *kept])
    rounds = [await store.prune(request("a", limit=10)) for _ in range(4)]
    assert rounds == [Pruned(10, 0), Pruned(10, 0), Pruned(5, 0), Pruned(0, 0)]
    assert await stored_ids(store) == {job.id for job in kept}


async def test_prune_deletes_old_occurrences_but_each_schedule_s_latest(store: Store) -> None:
    schedule = Schedule("s", "t", cron_expression="0 3 * * *", created_at=EPOCH, updated_at=EPOCH)
    await store.insert_schedule(schedule)
    occurrences = [BEFORE - (10 - i) * DAY for i in range(10)]  # all older than BEFORE
    for occurrence in occurrences:
        assert await store.fire_schedule(schedule.id, occurrence, make_job(), None)

    assert await store.prune(request("a", limit=4)) == Pruned(0, 4)
    assert await store.prune(request("a", limit=4)) == Pruned(0, 4)
    assert await store.prune(request("a", limit=4)) == Pruned(0, 1)  # the latest stays
    # A pruned occurrence is forgotten; the kept latest one still refuses a second firing.
    assert await store.fire_schedule(schedule.id, occurrences[0], make_job(), None)
    assert not await store.fire_schedule(schedule.id, occurrences[-1], make_job(), None)


async def test_one_runner_prunes_at_a_time(store_factory: StoreFactory) -> None:
    first, second = await store_factory(), await store_factory()
    await first.insert_jobs(old_finished(12))
    assert await first.prune(request("a", limit=5)) == Pruned(5, 0)
    # "a" holds the lease between its rounds: "b" skips, deleting nothing.
    assert await second.prune(request("b", limit=5)) is None
    assert await first.prune(request("a", limit=5)) == Pruned(5, 0)
    assert await second.prune(request("b", limit=5)) is None
    # A round that leaves nothing to do gives the lease up.
    assert await first.prune(request("a", limit=5)) == Pruned(2, 0)
    assert await second.prune(request("b", limit=5)) == Pruned(0, 0)


async def test_a_lease_left_by_a_dead_runner_expires(store_factory: StoreFactory) -> None:
    first, second = await store_factory(), await store_factory()
    await first.insert_jobs(old_finished(6))
    assert await first.prune(request("a", limit=5)) == Pruned(5, 0)  # then "a" dies
    assert await second.prune(request("b", limit=5, now=EPOCH + timedelta(seconds=59))) is None
    late = EPOCH + timedelta(minutes=1)
    assert await second.prune(request("b", limit=5, now=late)) == Pruned(1, 0)


async def test_maintenance_runs_rounds_until_done_and_skips_while_another_runs(
    store_factory: StoreFactory,
) -> None:
    clock = ManualClock(EPOCH)
    retention = (EPOCH - BEFORE).total_seconds()
    systems = [
        JobSystem(store=await store_factory(), clock=clock, settings=Settings(retention=retention))
        for _ in range(2)
    ]
    await systems[0].store.insert_jobs(old_finished(25))
    other = Maintenance(systems[1], batch=10, pause=0)
    # Another runner is part way through its rounds.
    assert await systems[0].store.prune(request("elsewhere", limit=10)) == Pruned(10, 0)
    skipped = await other.run(EPOCH)
    assert skipped.skipped and skipped.rounds == 0

    clock.advance(minutes=2)  # the other runner's lease is over
    done = await other.run(clock.now())
    assert (done.jobs, done.rounds, done.skipped) == (15, 2, False)
    assert await stored_ids(systems[1].store) == set()
