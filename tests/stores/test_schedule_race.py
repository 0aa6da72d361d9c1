"""A change of a schedule (the API's PUT) racing a scheduler that fires it.

Each side reaches the store through a gate that lets the two sides call it in a
given order, one call at a time, so every interleaving of the scheduler's reads
and writes with the change's is run, on every backend. Whatever the order, the
change survives and the scheduler fires each occurrence at most once.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from helpers import EPOCH
from uno.jobs.clock import ManualClock
from uno.jobs.scheduler import Scheduler
from uno.jobs.schedules import Interval, Schedule
from uno.jobs.settings import Settings
from uno.jobs.store.base import JobFilter, Store
from uno.jobs.system import JobSystem

#: Store calls the two sides make at most: the scheduler reads the due schedules,
#: fires, and repairs a stale next_run_at; the change reads, writes, and reads and
#: writes once more if its first write found the revision moved.
SCHEDULER_CALLS = 3
CHANGE_CALLS = 4
#: The store verbs that wait for their turn; open() and the like pass through.
GATED = frozenset(
    {
        "get_schedule",
        "due_schedules",
        "fire_schedule",
        "advance_schedule",
        "update_schedule_fields",
        "set_schedule_status",
    }
)

INTERVAL = timedelta(seconds=5)
DUE = EPOCH + INTERVAL


class Interleaving:
    """Lets sides ``S`` and ``M`` call the store in the order of ``order``.

    A position whose side has finished is skipped; past the end, calls run freely.
    """

    def __init__(self, order: str) -> None:
        self.order = order
        self.position = 0
        self.finished: set[str] = set()
        self.changed = asyncio.Condition()
        self.calls: list[str] = []

    def _may_go(self, side: str) -> bool:
        while self.position < len(self.order) and self.order[self.position] in self.finished:
            self.position += 1
        return self.position >= len(self.order) or self.order[self.position] == side

    async def call(
        self, side: str, name: str, verb: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        async with self.changed:
            await self.changed.wait_for(lambda: self._may_go(side))
        self.calls.append(f"{side}:{name}")
        try:
            return await verb(*args, **kwargs)
        finally:
            async with self.changed:
                self.position += 1
                self.changed.notify_all()

    async def run(self, side: str, work: Awaitable[Any]) -> Any:
        try:
            return await work
        finally:
            async with self.changed:
                self.finished.add(side)
                self.changed.notify_all()


class GatedStore:
    """The store as one side sees it: each gated verb waits for that side's turn."""

    def __init__(self, store: Store, side: str, interleaving: Interleaving) -> None:
        self._store = store
        self._side = side
        self._interleaving = interleaving

    def __getattr__(self, name: str) -> Any:
        verb = getattr(self._store, name)
        if name not in GATED:
            return verb

        async def gated(*args: Any, **kwargs: Any) -> Any:
            return await self._interleaving.call(self._side, name, verb, *args, **kwargs)

        return gated


def make_system(store: Any, clock: ManualClock) -> JobSystem:
    system = JobSystem(store=store, clock=clock, settings=Settings())

    @system.task
    def check_status() -> None:  # pragma: no cover - never run here
        return None

    return system


def orders() -> Iterator[str]:
    """Every merge of the scheduler's calls with the change's."""
    total = SCHEDULER_CALLS + CHANGE_CALLS
    for places in itertools.combinations(range(total), SCHEDULER_CALLS):
        yield "".join("S" if i in places else "M" for i in range(total))


#: The change under test, and what the stored schedule must then show.
CHANGES: dict[str, tuple[dict[str, Any], Callable[[Schedule], bool]]] = {
    # A change that leaves next_run_at to the scheduler.
    "args": ({"args": [42]}, lambda s: s.args == [42]),
    # A new rule: next_run_at comes from it (the 7 s grid from created_at).
    "rule": (
        {"interval": {"seconds": 7}},
        lambda s: (
            s.interval == Interval(seconds=7) and s.next_run_at == EPOCH + timedelta(seconds=7)
        ),
    ),
}


async def occurrence_jobs(store: Store, schedule_id: str) -> list[str]:
    jobs, _ = await store.list_jobs(JobFilter(limit=10_000))
    return [
        j.metadata["scheduled_occurrence"]
        for j in jobs
        if j.metadata.get("schedule_id") == schedule_id
    ]


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("already_fired", [False, True], ids=["due", "stale-next-run"])
async def test_a_change_survives_a_firing_in_every_interleaving(
    store: Store, change: str, already_fired: bool
) -> None:
    """``due``: the occurrence is due and unfired. ``stale-next-run``: it was fired
    but next_run_at still names it, so the scheduler's repair path runs."""
    changes, survived = CHANGES[change]
    seen: set[tuple[str, ...]] = set()
    for order in orders():
        clock = ManualClock(EPOCH)
        plain = make_system(store, clock)
        schedule = await plain.schedules.create("race", "check_status", interval={"seconds": 5})
        clock.set(DUE)
        if already_fired:
            job = Scheduler(plain).build_job(schedule, DUE, DUE)
            assert await store.fire_schedule(schedule.id, DUE, job, DUE)

        interleaving = Interleaving(order)
        firing = make_system(GatedStore(store, "S", interleaving), clock)
        changing = make_system(GatedStore(store, "M", interleaving), clock)
        await asyncio.gather(
            interleaving.run("S", Scheduler(firing).tick(DUE)),
            interleaving.run("M", changing.schedules.update(schedule.id, **changes)),
        )
        seen.add(tuple(interleaving.calls))
        await Scheduler(plain).tick(DUE)  # whatever is still due fires now

        stored = await store.get_schedule(schedule.id)
        assert stored is not None
        assert survived(stored), (order, interleaving.calls, stored)
        fired = await occurrence_jobs(store, schedule.id)
        assert fired in ([], [DUE.isoformat()]), (order, interleaving.calls, fired)
        if change == "args":
            # The occurrence fired once, under the old args or the new, and
            # next_run_at moved past it.
            assert fired == [DUE.isoformat()], (order, interleaving.calls)
            assert (stored.last_run_at, stored.next_run_at) == (DUE, DUE + INTERVAL)
        assert await store.delete_schedule(schedule.id)
    # The gates really interleaved the two sides in many ways.
    assert len(seen) >= 6
