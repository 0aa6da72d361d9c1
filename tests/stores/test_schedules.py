"""Behaviour every Store must have: schedules and exactly-once firing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from helpers import EPOCH, StoreFactory, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.errors import ScheduleNotFound
from uno.jobs.jobs import Priority
from uno.jobs.queries import JobFilter, ScheduleFilter
from uno.jobs.schedules import Interval, Schedule, ScheduleStatus
from uno.jobs.store.base import Store


def make_schedule(**kw: object) -> Schedule:
    kw.setdefault("name", "nightly")
    kw.setdefault("task_name", "t")
    kw.setdefault("cron_expression", "0 3 * * *")
    kw.setdefault("created_at", EPOCH)
    kw.setdefault("updated_at", EPOCH)
    kw.setdefault("next_run_at", EPOCH + timedelta(hours=3))
    return Schedule(**kw)  # type: ignore[arg-type]


async def test_schedule_crud_round_trips_every_field(store: Store) -> None:
    cron = make_schedule(
        timezone="Europe/Paris",
        args=[1, {"a": 2}],
        kwargs={"k": "v"},
        queue_name="reports",
        priority=Priority.HIGH,
        tags=["t1", "t2"],
        metadata={"owner": "ops"},
        max_retries=3,
        retry_delay=1.5,
        timeout=60.0,
        version="2.0",
        last_run_at=EPOCH - timedelta(days=1),
    )
    every = make_schedule(
        name="often", cron_expression=None, interval=Interval(hours=1, minutes=30)
    )
    await store.insert_schedule(cron)
    await store.insert_schedule(every)
    assert await store.get_schedule(cron.id) == cron
    assert await store.get_schedule(every.id) == every
    assert await store.get_schedule("missing") is None

    changed = cron.evolve(
        name="renamed",
        status=ScheduleStatus.PAUSED,
        cron_expression=None,
        interval=Interval(days=1),
        tags=[],
        metadata={},
        queue_name=None,
        max_retries=None,
        updated_at=EPOCH + timedelta(minutes=1),
    )
    await store.update_schedule(changed)
    assert await store.get_schedule(cron.id) == changed
    with pytest.raises(ScheduleNotFound):
        await store.update_schedule(make_schedule(id="missing"))

    assert await store.delete_schedule(cron.id) is True
    assert await store.delete_schedule(cron.id) is False
    assert await store.get_schedule(cron.id) is None


async def test_list_schedules_filters_and_pages(store: Store) -> None:
    schedules = [
        make_schedule(
            name=f"s{i}",
            created_at=EPOCH + timedelta(seconds=i),
            status=ScheduleStatus.PAUSED if i % 3 == 0 else ScheduleStatus.ACTIVE,
            tags=["even"] if i % 2 == 0 else ["odd", "x"],
        )
        for i in range(10)
    ]
    for schedule in reversed(schedules):
        await store.insert_schedule(schedule)

    page, total = await store.list_schedules(ScheduleFilter())
    assert [s.name for s in page] == [f"s{i}" for i in range(10)]
    assert total == 10
    page, total = await store.list_schedules(ScheduleFilter(limit=3, offset=3))
    assert ([s.name for s in page], total) == (["s3", "s4", "s5"], 10)
    page, total = await store.list_schedules(ScheduleFilter(status=ScheduleStatus.PAUSED))
    assert ([s.name for s in page], total) == (["s0", "s3", "s6", "s9"], 4)
    page, total = await store.list_schedules(ScheduleFilter(tags=("odd", "x")))
    assert ([s.name for s in page], total) == (["s1", "s3", "s5", "s7", "s9"], 5)
    both = ScheduleFilter(status=ScheduleStatus.ACTIVE, tags=("even",), limit=2)
    page, total = await store.list_schedules(both)
    assert ([s.name for s in page], total) == (["s2", "s4"], 3)


async def test_due_schedules(store: Store) -> None:
    t = EPOCH
    late = make_schedule(name="late", next_run_at=t - timedelta(minutes=5))
    now_due = make_schedule(name="now", next_run_at=t)
    later = make_schedule(name="later", next_run_at=t + timedelta(seconds=1))
    paused = make_schedule(
        name="paused", next_run_at=t - timedelta(hours=1), status=ScheduleStatus.PAUSED
    )
    never = make_schedule(name="never", next_run_at=None)
    for schedule in (now_due, later, paused, never, late):
        await store.insert_schedule(schedule)
    assert [s.name for s in await store.due_schedules(t, 10)] == ["late", "now"]
    assert [s.name for s in await store.due_schedules(t, 1)] == ["late"]
    assert await store.due_schedules(t - timedelta(hours=1), 10) == []


async def test_fire_schedule_exactly_once(store: Store, clock: ManualClock) -> None:
    schedule = make_schedule()
    await store.insert_schedule(schedule)
    occurrence = EPOCH + timedelta(hours=3)
    following = occurrence + timedelta(days=1)
    job = make_job(metadata={"schedule_id": schedule.id})

    assert await store.fire_schedule(schedule.id, occurrence, job, following) is True
    assert await store.get_job(job.id) == job
    fired = await store.get_schedule(schedule.id)
    assert fired is not None
    assert (fired.last_run_at, fired.next_run_at) == (occurrence, following)

    twin = make_job()
    assert await store.fire_schedule(schedule.id, occurrence, twin, following) is False
    assert await store.get_job(twin.id) is None
    _, total = await store.list_jobs(JobFilter())
    assert total == 1

    nxt = make_job()
    assert await store.fire_schedule(schedule.id, following, nxt, None) is True
    fired = await store.get_schedule(schedule.id)
    assert fired is not None
    assert (fired.last_run_at, fired.next_run_at) == (following, None)


async def test_fire_paused_or_deleted_schedule_writes_nothing(store: Store) -> None:
    paused = make_schedule(status=ScheduleStatus.PAUSED)
    await store.insert_schedule(paused)
    occurrence = EPOCH + timedelta(hours=3)
    job = make_job()
    assert await store.fire_schedule(paused.id, occurrence, job, None) is False
    assert await store.fire_schedule("missing", occurrence, job, None) is False
    assert await store.get_job(job.id) is None
    unchanged = await store.get_schedule(paused.id)
    assert unchanged == paused

    # A deleted schedule forgets its occurrences: one re-created under the same id
    # fires the same occurrence again.
    active = make_schedule()
    await store.insert_schedule(active)
    assert await store.fire_schedule(active.id, occurrence, make_job(), None) is True
    assert await store.delete_schedule(active.id) is True
    assert await store.fire_schedule(active.id, occurrence, make_job(), None) is False
    await store.insert_schedule(active)
    assert await store.fire_schedule(active.id, occurrence, make_job(), None) is True


async def test_concurrent_schedulers_fire_an_occurrence_once(
    store_factory: StoreFactory,
) -> None:
    stores = [await store_factory() for _ in range(3)]
    schedule = make_schedule()
    await stores[0].insert_schedule(schedule)
    occurrence = EPOCH + timedelta(hours=3)
    jobs = [make_job() for _ in range(9)]
    results = await asyncio.gather(
        *(
            stores[i % 3].fire_schedule(schedule.id, occurrence, job, None)
            for i, job in enumerate(jobs)
        )
    )
    assert sorted(results) == [False] * 8 + [True]
    _, total = await stores[0].list_jobs(JobFilter())
    assert total == 1
