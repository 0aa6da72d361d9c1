"""Retry delays: fixed, exponential, capped and jittered."""

from __future__ import annotations

import random

from uno.jobs.retry import RetryPolicy


def test_fixed_delay() -> None:
    policy = RetryPolicy(delay=30)
    assert [policy.delay_for(n) for n in (1, 2, 5)] == [30, 30, 30]


def test_exponential_backoff_is_capped() -> None:
    policy = RetryPolicy(delay=10, backoff=True, factor=2, max_delay=50)
    assert [policy.delay_for(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 50]


def test_jitter_stays_within_its_fraction() -> None:
    policy = RetryPolicy(delay=100, jitter=0.1)
    rng = random.Random(7)
    delays = [policy.delay_for(1, rng) for _ in range(200)]
    assert all(90 <= d <= 110 for d in delays)
    assert len(set(delays)) > 100
