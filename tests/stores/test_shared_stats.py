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


async def test_a_costly_result_past_its_reuse_is_answered_while_one_refresh_runs() -> None:
    now = [0.0]
    compute = Counting(now, cost=2.0)
    shared = SharedStats(compute, costly=0.05, stale_for=60, clock=lambda: now[0])
    assert (await shared.get()).total_jobs == 1
    now[0] += 10  # past the reuse: the last result at once, a refresh behind it
    compute.gate.clear()
    answers = [(await shared.get()).total_jobs for _ in range(3)]
    await asyncio.sleep(0)
    assert answers == [1, 1, 1] and compute.calls == 2  # one refresh for all three
    compute.gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert (await shared.get()).total_jobs == 2
    now[0] += 100  # past stale_for: the caller waits for a count
    assert (await shared.get()).total_jobs == 3


async def test_a_kept_result_answers_the_first_call_of_a_new_process() -> None:
    now = [0.0]
    compute = Counting(now, cost=2.0)
    kept: list[tuple[JobStats, float]] = []

    async def save(stats: JobStats, took: float) -> None:
        kept.append((stats, took))

    first = SharedStats(compute, costly=0.05, stale_for=60, save=save, clock=lambda: now[0])
    assert (await first.get()).total_jobs == 1 and kept == [(JobStats(total_jobs=1), 2.0)]

    async def load() -> tuple[JobStats, float, float]:
        return kept[-1][0], 30.0, kept[-1][1]  # counted 30 s ago

    compute.gate.clear()
    second = SharedStats(compute, costly=0.05, stale_for=60, load=load, clock=lambda: now[0])
    assert (await second.get()).total_jobs == 1
    await asyncio.sleep(0)
    assert compute.calls == 2  # refreshing
    compute.gate.set()
    await second.stop()


async def test_a_kept_result_too_old_cheap_or_unreadable_is_not_used() -> None:
    now = [0.0]
    compute = Counting(now, cost=0.0)

    async def old() -> tuple[JobStats, float, float]:
        return JobStats(total_jobs=99), 600.0, 2.0

    async def cheap() -> tuple[JobStats, float, float]:
        return JobStats(total_jobs=99), 1.0, 0.01

    async def broken() -> None:
        raise OSError("store down")

    for load in (old, cheap, broken):
        shared = SharedStats(compute, costly=0.05, stale_for=60, load=load, clock=lambda: now[0])
        assert (await shared.get()).total_jobs != 99


async def test_within_answers_none_while_a_first_count_runs_then_its_result() -> None:
    now = [0.0]
    compute = Counting(now, cost=2.0)
    shared = SharedStats(compute, costly=0.05, clock=lambda: now[0])
    compute.gate.clear()  # the first count of a large table, still running
    assert await shared.within(0.01) is None
    assert await shared.within(0.01) is None  # waits on the same count
    assert compute.calls == 1
    compute.gate.set()
    counted = await shared.within(5.0)
    assert counted is not None and counted.total_jobs == 1
    assert (await shared.within(0.01)) is counted  # reused: costly
    assert compute.calls == 1
    await shared.stop()


async def test_a_caller_waiting_for_its_turn_reuses_what_was_just_counted() -> None:
    now = [0.0]
    compute = Counting(now, cost=2.0)
    shared = SharedStats(compute, costly=0.05, clock=lambda: now[0])
    compute.gate.clear()
    first, second = asyncio.ensure_future(shared.get()), asyncio.ensure_future(shared.get())
    await asyncio.sleep(0)  # both started; the second waits for the first's turn
    compute.gate.set()
    assert (await first).total_jobs == (await second).total_jobs == 1
    assert compute.calls == 1


def test_job_stats_survive_their_json() -> None:
    stats = JobStats(total_jobs=3, avg_run_time=1.5, by_queue={"q": {"total_jobs": 3}})
    assert JobStats.from_json(stats.to_json()) == stats
