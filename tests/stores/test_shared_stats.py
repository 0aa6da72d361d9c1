"""SharedStats: a costly stats computation is shared and briefly reused; a cheap
one is made afresh on every call, so callers see their own writes."""

from __future__ import annotations

import asyncio

from uno.jobs.queries import JobStats
from uno.jobs.store.stats import SharedStats


class Counting:
    """A stats computation that takes ``cost`` seconds of a fake clock."""

    def __init__(self, clock: list[float], cost: float) -> None:
        self.clock = clock
        self.cost = cost
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> JobStats:
        self.calls += 1
        await self.gate.wait()
        self.clock[0] += self.cost
        return JobStats(total_jobs=self.calls)


async def test_cheap_stats_are_counted_afresh_on_every_call() -> None:
    now = [0.0]
    compute = Counting(now, cost=0.1)
    shared = SharedStats(compute, clock=lambda: now[0])
    assert [(await shared.get()).total_jobs for _ in range(3)] == [1, 2, 3]


async def test_costly_stats_are_reused_for_a_few_times_their_cost() -> None:
    now = [0.0]
    compute = Counting(now, cost=2.0)
    shared = SharedStats(compute, costly=0.05, reuse_factor=4, clock=lambda: now[0])
    assert (await shared.get()).total_jobs == 1
    now[0] += 7.9  # 8 s of reuse after a 2 s computation
    assert (await shared.get()).total_jobs == 1
    now[0] += 0.2
    assert (await shared.get()).total_jobs == 2
    now[0] += 8.1
    compute.cost = 60.0  # reused for half a minute at most
    assert (await shared.get()).total_jobs == 3
    now[0] += 29.9
    assert (await shared.get()).total_jobs == 3
    now[0] += 0.2
    assert (await shared.get()).total_jobs == 4


async def test_callers_arriving_during_a_costly_computation_share_it() -> None:
    now = [0.0]
    compute = Counting(now, cost=1.0)
    shared = SharedStats(compute, costly=0.05, reuse_factor=0, clock=lambda: now[0])
    await shared.get()  # costly: from now on, concurrent callers share
    compute.gate.clear()
    callers = [asyncio.ensure_future(shared.get()) for _ in range(8)]
    await asyncio.sleep(0)
    compute.gate.set()
    results = await asyncio.gather(*callers)
    assert {r.total_jobs for r in results} == {2}
    assert compute.calls == 2


async def test_a_caller_giving_up_does_not_cancel_the_others() -> None:
    now = [0.0]
    compute = Counting(now, cost=1.0)
    shared = SharedStats(compute, costly=0.05, reuse_factor=0, clock=lambda: now[0])
    await shared.get()
    compute.gate.clear()
    impatient = asyncio.ensure_future(shared.get())
    patient = asyncio.ensure_future(shared.get())
    await asyncio.sleep(0)
    impatient.cancel()
    compute.gate.set()
    assert (await patient).total_jobs == 2


async def test_cheap_computations_take_turns_each_counting_afresh() -> None:
    running = peak = 0

    async def compute() -> JobStats:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return JobStats()

    shared = SharedStats(compute)
    await asyncio.gather(*(shared.get() for _ in range(5)))
    assert (peak, shared.computations) == (1, 5)
