"""Schedules on every backend: the manager's verbs, validation, and exactly-once ticks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers import EPOCH, StoreFactory, eventually, make_job
from uno.jobs.clock import ManualClock
from uno.jobs.errors import ScheduleNotFound, TaskNotFound, ValidationError
from uno.jobs.jobs import Job, Priority, Status
from uno.jobs.limits import Limits
from uno.jobs.queries import JobFilter
from uno.jobs.scheduler import Maintenance, Scheduler
from uno.jobs.scheduler.maintenance import MaintenanceRun
from uno.jobs.schedules import Interval, ScheduleStatus
from uno.jobs.settings import Settings
from uno.jobs.store.base import Store
from uno.jobs.system import JobSystem


def make_system(store: Store, clock: ManualClock) -> JobSystem:
    system = JobSystem(store=store, clock=clock, settings=Settings())

    @system.task(queue="reports", max_retries=2, retry_delay=120, timeout=600)
    def generate_report(kind: str, format: str = "pdf") -> str:
        return f"{kind}.{format}"

    @system.task(version="2.0", queue="reports")
    def generate_report_v2(kind: str) -> str:  # pragma: no cover - never run here
        return kind

    @system.task
    def check_status() -> None:  # pragma: no cover - never run here
        return None

    return system


@pytest.fixture
def system(store: Store, clock: ManualClock) -> JobSystem:
    return make_system(store, clock)


async def all_jobs(system: JobSystem) -> list[Job]:
    jobs, _ = await system.list_jobs(
        JobFilter(limit=1000, order_by="scheduled_at", order_dir="asc")
    )
    return jobs


# -- the manager's verbs ------------------------------------------------------


async def test_run_now_enqueues_one_job_due_now_by_name(
    system: JobSystem, store: Store, clock: ManualClock
) -> None:
    created = await system.schedules.create(
        "Daily Report", "generate_report", cron_expression="0 0 * * *", args=["daily"],
        priority="high", tags=["report"], metadata={"owner": "ops"},
    )  # fmt: skip
    await system.schedules.pause(created.id)
    job = await system.schedules.run_now(created.id)
    assert (job.task_name, job.args, job.queue_name, job.priority) == (
        "generate_report", ["daily"], "reports", Priority.HIGH,
    )  # fmt: skip
    assert (job.scheduled_at, job.max_retries, job.tags) == (clock.now(), 2, ["report"])
    assert job.metadata == {
        "owner": "ops", "schedule_id": created.id, "schedule_name": "Daily Report",
        "run_now": True,
    }  # fmt: skip
    assert (await system.schedules.get(created.id)).status is ScheduleStatus.PAUSED
    # A process without the task's code (the CLI) runs it by name.
    bare = JobSystem(store=store, clock=clock, settings=Settings())
    by_name = await bare.schedules.run_now(created.id)
    assert (by_name.task_name, by_name.metadata["schedule_id"]) == ("generate_report", created.id)
    with pytest.raises(ScheduleNotFound):
        await system.schedules.run_now("nope")


async def test_create_cron_schedule_round_trips(system: JobSystem, clock: ManualClock) -> None:
    created = await system.schedules.create(
        "Daily Report",
        "generate_report",
        cron_expression="0 0 * * *",
        args=["daily"],
        kwargs={"format": "pdf"},
        queue_name="reports",
        priority="high",
        tags=["report", "daily"],
        metadata={"department": "accounting"},
        max_retries=3,
        retry_delay=60,
        timeout=600,
        version="1.0",
    )
    assert created.status is ScheduleStatus.ACTIVE
    assert created.priority is Priority.HIGH
    assert created.created_at == created.updated_at == EPOCH
    assert created.next_run_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert created.last_run_at is None
    assert await system.schedules.get(created.id) == created


async def test_create_interval_schedule_from_a_dict(system: JobSystem, clock: ManualClock) -> None:
    clock.advance(0.25)
    created = await system.schedules.create(
        "Hourly Check",
        "check_status",
        interval={"hours": 1, "minutes": 0, "seconds": 0, "days": 0},
        priority="low",
    )
    assert created.interval == Interval(hours=1)
    assert created.cron_expression is None
    # Counted from created_at to the second: on the grid of whole hours here.
    assert created.next_run_at == EPOCH + timedelta(hours=1)
    assert (await system.schedules.get(created.id)).interval == Interval(hours=1)


async def test_cron_in_a_time_zone(system: JobSystem) -> None:
    created = await system.schedules.create(
        "NY morning", "check_status", cron_expression="0 8 * * *", timezone="America/New_York"
    )
    assert created.timezone == "America/New_York"
    assert created.next_run_at == datetime(2026, 1, 1, 13, tzinfo=UTC)
    assert (await system.schedules.get(created.id)).timezone == "America/New_York"


async def test_list_filters_and_pages(system: JobSystem, clock: ManualClock) -> None:
    ids = []
    for i in range(5):
        clock.advance(1)
        schedule = await system.schedules.create(
            f"s{i}", "check_status", interval={"minutes": 5}, tags=["even" if i % 2 == 0 else "odd"]
        )
        ids.append(schedule.id)
    await system.schedules.pause(ids[1])
    items, total = await system.schedules.list()
    assert total == 5
    assert [s.id for s in items] == ids
    items, total = await system.schedules.list(limit=2, offset=2)
    assert (total, [s.id for s in items]) == (5, ids[2:4])
    items, total = await system.schedules.list(status="paused")
    assert (total, [s.id for s in items]) == (1, [ids[1]])
    items, total = await system.schedules.list(status=ScheduleStatus.ACTIVE, tags=["even"])
    assert (total, [s.id for s in items]) == (3, [ids[0], ids[2], ids[4]])
    with pytest.raises(ValidationError, match="status"):
        await system.schedules.list(status="sleeping")
    with pytest.raises(ValidationError, match="limit"):
        await system.schedules.list(limit=0)


async def test_get_and_delete_unknown(system: JobSystem) -> None:
    with pytest.raises(ScheduleNotFound):
        await system.schedules.get("nope")
    with pytest.raises(ScheduleNotFound):
        await system.schedules.delete("nope")
    with pytest.raises(ScheduleNotFound):
        await system.schedules.update("nope", name="x")
    with pytest.raises(ScheduleNotFound):
        await system.schedules.pause("nope")


async def test_delete(system: JobSystem) -> None:
    schedule = await system.schedules.create("s", "check_status", cron_expression="0 8 * * *")
    await system.schedules.delete(schedule.id)
    with pytest.raises(ScheduleNotFound):
        await system.schedules.get(schedule.id)
    assert await system.schedules.list() == ([], 0)


async def test_update_is_partial_and_recomputes_next_run(
    system: JobSystem, clock: ManualClock
) -> None:
    schedule = await system.schedules.create(
        "Daily Report", "generate_report", cron_expression="0 0 * * *", args=["daily"], tags=["a"]
    )
    clock.advance(hours=2)
    updated = await system.schedules.update(
        schedule.id,
        name="Updated Daily Report",
        cron_expression="0 1 * * *",
        kwargs={"format": "excel"},
        priority="high",
        tags=["report", "daily", "important"],
        max_retries=5,
        status="active",
    )
    assert updated.name == "Updated Daily Report"
    assert updated.args == ["daily"]  # untouched
    assert updated.priority is Priority.HIGH
    assert updated.max_retries == 5
    assert updated.next_run_at == datetime(2026, 1, 2, 1, tzinfo=UTC)
    assert updated.updated_at == clock.now()
    assert updated.created_at == EPOCH
    assert await system.schedules.get(schedule.id) == updated

    # Switching kinds: an interval replaces the cron expression.
    clock.advance(seconds=30)
    switched = await system.schedules.update(schedule.id, interval={"minutes": 10})
    assert switched.cron_expression is None
    assert switched.interval == Interval(minutes=10)
    assert switched.next_run_at == EPOCH + timedelta(hours=2, minutes=10)

    # A change that leaves the rule alone leaves next_run_at alone.
    clock.advance(minutes=3)
    renamed = await system.schedules.update(schedule.id, name="again", queue_name=None)
    assert renamed.next_run_at == switched.next_run_at
    assert renamed.queue_name is None


async def test_update_refuses_bad_changes_and_writes_nothing(system: JobSystem) -> None:
    schedule = await system.schedules.create("s", "check_status", cron_expression="0 8 * * *")
    bad: list[dict[str, Any]] = [
        {"cron_expression": "0 8 * * * *"},
        {"cron_expression": "0 8 * * *", "interval": {"minutes": 1}},
        {"interval": {"seconds": 0}},
        {"timezone": "Mars/Olympus_Mons"},
        {"task_name": "missing"},
        {"version": "9.9"},
        {"priority": "urgent"},
        {"max_retries": -1},
        {"timeout": 0},
        {"status": "sleeping"},
        {"id": "other"},
    ]
    for change in bad:
        with pytest.raises(ValidationError):
            await system.schedules.update(schedule.id, **change)
    assert await system.schedules.get(schedule.id) == schedule


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"cron_expression": "61 * * * *"}, ValidationError, "Invalid cron"),
        ({"cron_expression": "0 0 0 * * *"}, ValidationError, "5 fields"),
        (
            {"cron_expression": "0 8 * * *", "interval": {"hours": 1}},
            ValidationError,
            "not both",
        ),
        ({}, ValidationError, "neither"),
        (
            {"interval": {"hours": 0, "minutes": 0, "seconds": 0, "days": 0}},
            ValidationError,
            "zero",
        ),
        ({"interval": {"minutes": -1}}, ValidationError, "zero or more"),
        ({"interval": {"hours": 1}, "task_name": "nope"}, TaskNotFound, "Task not found: nope"),
        ({"interval": {"hours": 1}, "version": "3.0"}, TaskNotFound, "version 3.0"),
        ({"cron_expression": "0 8 * * *", "timezone": "Nowhere/City"}, ValidationError, "timezone"),
        ({"interval": {"hours": 1}, "priority": "urgent"}, ValidationError, "priority"),
        ({"interval": {"hours": 1}, "max_retries": -1}, ValidationError, "max_retries"),
        ({"interval": {"hours": 1}, "retry_delay": -5}, ValidationError, "retry_delay"),
        ({"interval": {"hours": 1}, "timeout": -1}, ValidationError, "timeout"),
        ({"interval": {"hours": 1}, "args": "abc"}, ValidationError, "args"),
        ({"interval": {"hours": 1}, "kwargs": {"f": object()}}, ValidationError, "kwargs"),
        ({"interval": {"hours": 1}, "name": " "}, ValidationError, "name"),
    ],
)
async def test_create_refuses_bad_input_and_writes_nothing(
    system: JobSystem, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs = dict(kwargs)  # the parameter is shared by both backends' runs
    name = kwargs.pop("name", "bad")
    task_name = kwargs.pop("task_name", "generate_report")
    with pytest.raises(error, match=message):
        await system.schedules.create(name, task_name, **kwargs)
    assert await system.schedules.list() == ([], 0)


async def test_pause_and_resume_pick_up_from_now(system: JobSystem, clock: ManualClock) -> None:
    schedule = await system.schedules.create("s", "check_status", cron_expression="0 * * * *")
    paused = await system.schedules.pause(schedule.id)
    assert paused.status is ScheduleStatus.PAUSED
    assert paused.next_run_at is None
    assert (await system.schedules.pause(schedule.id)).status is ScheduleStatus.PAUSED

    clock.advance(hours=5, minutes=10)
    scheduler = Scheduler(system)
    assert await scheduler.tick() == 0
    resumed = await system.schedules.resume(schedule.id)
    assert resumed.status is ScheduleStatus.ACTIVE
    assert resumed.next_run_at == EPOCH + timedelta(hours=6)  # no burst of missed runs
    assert await scheduler.tick() == 0
    clock.set(EPOCH + timedelta(hours=6))
    assert await scheduler.tick() == 1


async def test_update_status_pauses_and_resumes(system: JobSystem, clock: ManualClock) -> None:
    schedule = await system.schedules.create("s", "check_status", interval={"minutes": 1})
    assert (await system.schedules.update(schedule.id, status="paused")).next_run_at is None
    clock.advance(minutes=7, seconds=30)
    resumed = await system.schedules.update(schedule.id, status="active")
    assert resumed.next_run_at == EPOCH + timedelta(minutes=8)


# -- the scheduler's tick -----------------------------------------------------


async def test_tick_fires_each_occurrence_exactly_once(
    system: JobSystem, clock: ManualClock
) -> None:
    schedule = await system.schedules.create(
        "Daily Report",
        "generate_report",
        interval={"seconds": 10},
        args=["daily"],
        kwargs={"format": "pdf"},
        priority="high",
        tags=["report"],
        metadata={"department": "accounting"},
        max_retries=4,
        timeout=30,
    )
    scheduler = Scheduler(system)
    assert await scheduler.tick() == 0
    clock.advance(10)
    assert await scheduler.tick() == 1
    assert await scheduler.tick() == 0  # same time again: nothing new
    (job,) = await all_jobs(system)
    occurrence = EPOCH + timedelta(seconds=10)
    assert job.task_name == "generate_report"
    assert (job.args, job.kwargs) == (["daily"], {"format": "pdf"})
    assert job.queue_name == "reports"  # from the task
    assert job.priority is Priority.HIGH
    assert job.tags == ["report"]
    assert (job.max_retries, job.retry_delay, job.timeout) == (4, 120.0, 30.0)
    assert job.status is Status.PENDING
    assert job.scheduled_at == occurrence
    assert job.metadata == {
        "department": "accounting",
        "schedule_id": schedule.id,
        "schedule_name": "Daily Report",
        "scheduled_occurrence": occurrence.isoformat(),
    }
    stored = await system.schedules.get(schedule.id)
    assert stored.last_run_at == occurrence
    assert stored.next_run_at == occurrence + timedelta(seconds=10)

    clock.advance(10)
    assert await scheduler.tick() == 1
    assert [j.scheduled_at for j in await all_jobs(system)] == [
        occurrence,
        occurrence + timedelta(seconds=10),
    ]


async def test_tick_coalesces_missed_occurrences(system: JobSystem, clock: ManualClock) -> None:
    schedule = await system.schedules.create("s", "check_status", cron_expression="0 * * * *")
    clock.advance(hours=5, minutes=20)  # the scheduler was down for five occurrences
    assert await Scheduler(system).tick() == 1
    (job,) = await all_jobs(system)
    assert job.metadata["scheduled_occurrence"] == (EPOCH + timedelta(hours=5)).isoformat()
    stored = await system.schedules.get(schedule.id)
    assert stored.last_run_at == EPOCH + timedelta(hours=5)
    assert stored.next_run_at == EPOCH + timedelta(hours=6)


async def test_concurrent_schedulers_fire_once(
    store_factory: StoreFactory, clock: ManualClock
) -> None:
    systems = [make_system(await store_factory(), clock) for _ in range(3)]
    await systems[0].schedules.create("s", "check_status", interval={"seconds": 1})
    schedulers = [Scheduler(s) for s in systems]
    total = 0
    for _ in range(5):
        clock.advance(1)
        created = await asyncio.gather(*(s.tick() for s in schedulers))
        assert sum(created) == 1
        total += sum(created)
    occurrences = [j.metadata["scheduled_occurrence"] for j in await all_jobs(systems[0])]
    assert len(occurrences) == len(set(occurrences)) == total == 5


async def test_a_schedule_that_cannot_fire_does_not_block_others(
    system: JobSystem, clock: ManualClock, store: Store
) -> None:
    good = await system.schedules.create("good", "check_status", interval={"seconds": 5})
    bad = await system.schedules.create("bad", "check_status", interval={"seconds": 5})
    assert await store.update_schedule_fields(bad.evolve(task_name="gone"), {"task_name"})
    clock.advance(5)
    scheduler = Scheduler(system)
    assert await scheduler.tick() == 1
    (job,) = await all_jobs(system)
    assert job.metadata["schedule_id"] == good.id
    assert (await system.schedules.get(bad.id)).last_run_at is None


async def test_run_loop_fires_and_stops(system: JobSystem, clock: ManualClock) -> None:
    await system.schedules.create("s", "check_status", interval={"seconds": 1})
    clock.advance(1)
    scheduler = Scheduler(system, tick_interval=0.02, maintenance=Maintenance(system))
    runner = asyncio.create_task(scheduler.run())
    try:
        await eventually(lambda: all_jobs(system), timeout=5)
        clock.advance(1)
        await eventually(lambda: _count_at_least(system, 2), timeout=5)
    finally:
        scheduler.request_stop()
        await asyncio.wait_for(runner, timeout=5)
    assert len(await all_jobs(system)) == 2


async def _count_at_least(system: JobSystem, count: int) -> bool:
    return len(await all_jobs(system)) >= count


class StalledMaintenance(Maintenance):
    """A run of maintenance that lasts until the test releases it."""

    def __init__(self, system: JobSystem) -> None:
        super().__init__(system)
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def run(self, now: datetime, stopping: Any = None) -> MaintenanceRun:
        self.started.set()
        await self.release.wait()
        return MaintenanceRun()


async def test_schedules_keep_firing_while_maintenance_runs(
    system: JobSystem, clock: ManualClock
) -> None:
    """Pruning a large backlog takes many rounds; the loop goes on ticking meanwhile."""
    await system.schedules.create("s", "check_status", interval={"seconds": 1})
    maintenance = StalledMaintenance(system)
    scheduler = Scheduler(system, tick_interval=0.02, maintenance=maintenance)
    runner = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(maintenance.started.wait(), timeout=5)
        clock.advance(1)
        await eventually(lambda: all_jobs(system), timeout=5)
        clock.advance(1)
        await eventually(lambda: _count_at_least(system, 2), timeout=5)
    finally:
        scheduler.request_stop()
        maintenance.release.set()
        await asyncio.wait_for(runner, timeout=5)


async def test_maintenance_prunes_old_finished_jobs(
    system: JobSystem, store: Store, clock: ManualClock
) -> None:
    old = make_job(
        status=Status.COMPLETED,
        completed_at=EPOCH - timedelta(days=30),
        created_at=EPOCH - timedelta(days=31),
    )
    fresh = make_job(status=Status.COMPLETED, completed_at=EPOCH, created_at=EPOCH)
    waiting = make_job(created_at=EPOCH - timedelta(days=30))
    await store.insert_jobs([old, fresh, waiting])
    maintenance = Maintenance(system, every=300)
    assert await maintenance.run_if_due(clock.now()) == 1
    assert await maintenance.run_if_due(clock.now() + timedelta(seconds=10)) is None
    assert {j.id for j in await all_jobs(system)} == {fresh.id, waiting.id}


async def test_a_stale_next_run_at_is_repaired_not_fired_twice(
    system: JobSystem, store: Store, clock: ManualClock
) -> None:
    """A next_run_at naming a fired occurrence (another process's clock behind) is
    moved on; no second job."""
    schedule = await system.schedules.create("s", "check_status", interval={"seconds": 5})
    clock.advance(5)
    scheduler = Scheduler(system)
    assert await scheduler.tick() == 1
    fired = await system.schedules.get(schedule.id)
    stale = fired.evolve(next_run_at=EPOCH + timedelta(seconds=5))
    assert await store.update_schedule_fields(stale, {"next_run_at"})
    assert await scheduler.tick() == 0
    repaired = await system.schedules.get(schedule.id)
    assert repaired.next_run_at == EPOCH + timedelta(seconds=10)
    assert repaired.last_run_at == EPOCH + timedelta(seconds=5)
    assert len(await all_jobs(system)) == 1


async def test_create_accepts_none_for_empty_collections(system: JobSystem) -> None:
    created = await system.schedules.create(
        "s",
        "check_status",
        interval={"days": 1},
        args=None,
        tags=None,  # type: ignore[arg-type]
    )
    assert (created.args, created.tags, created.kwargs, created.metadata) == ([], [], {}, {})


# -- the shared limits ----------------------------------------------------------------

NUL, SURROGATE = "a\x00b", "a\ud800b"
DEEP: Any = 1
for _ in range(Limits().max_json_depth + 1):
    DEEP = [DEEP]

#: Values a schedule's jobs could not get, so the schedule may not have them either.
OVER_THE_LIMITS: list[dict[str, Any]] = [
    {"retry_delay": 1e12},
    {"retry_delay": Limits().max_retry_delay + 1},
    {"timeout": Limits().max_timeout + 1},
    {"max_retries": Limits().max_retries + 1},
    {"args": [DEEP]},
    {"kwargs": {"k": DEEP}},
    {"metadata": {"k": "x" * (Limits().max_payload_bytes + 1)}},
    {"args": [NUL]},
    {"kwargs": {SURROGATE: 1}},
    {"metadata": {"k": SURROGATE}},
    {"tags": [NUL]},
    {"tags": [SURROGATE]},
    {"tags": [str(n) for n in range(Limits().max_tags + 1)]},
    {"queue_name": NUL},
    {"queue_name": SURROGATE},
    {"name": NUL},
    {"name": "n" * 256},
    {"timezone": "UTC\x00"},
    {"version": SURROGATE},
    {"cron_expression": "0 8 * * *\x00"},
]


@pytest.mark.parametrize("change", OVER_THE_LIMITS)
async def test_create_and_update_obey_the_job_limits(
    system: JobSystem, change: dict[str, Any]
) -> None:
    rule = {} if "cron_expression" in change else {"interval": {"hours": 1}}
    fields = {"name": "s", **rule, **change}
    with pytest.raises(ValidationError):
        await system.schedules.create(task_name="check_status", **fields)
    assert await system.schedules.list() == ([], 0)
    schedule = await system.schedules.create("s", "check_status", interval={"hours": 1})
    with pytest.raises(ValidationError):
        await system.schedules.update(schedule.id, **change)
    assert await system.schedules.get(schedule.id) == schedule


async def test_an_id_no_schedule_can_have_is_not_found(system: JobSystem) -> None:
    for schedule_id in (NUL, SURROGATE):
        with pytest.raises(ScheduleNotFound):
            await system.schedules.get(schedule_id)
        with pytest.raises(ScheduleNotFound):
            await system.schedules.delete(schedule_id)
