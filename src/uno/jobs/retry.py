"""When the next attempt of a failed job is due."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from uno.jobs.limits import DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``delay`` seconds before a retry, optionally growing exponentially with jitter.

    With ``backoff`` the n-th retry (1-based) waits ``delay * factor ** (n - 1)``,
    capped at ``max_delay``; ``jitter`` spreads that by up to the given fraction so
    that a burst of failures does not come back as a burst of retries. Whatever
    the numbers, a delay never exceeds ``ceiling`` (``Limits.max_retry_delay``):
    the worker adds it to the current time, and a retry due beyond any date a
    store can hold would leave the job unsettled.
    """

    delay: float = 60.0
    backoff: bool = False
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.0
    ceiling: float = DEFAULT_LIMITS.max_retry_delay

    def delay_for(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

        Never raises for large numbers: the growth is compared with the cap in
        log space, so ``factor ** n`` is only computed when it fits under it.
        """
        cap = min(self.max_delay, self.ceiling) if self.backoff else self.ceiling
        delay = _finite_or(self.delay, cap)
        if self.backoff:
            delay = _grown(delay, self.factor, max(retry_number - 1, 0), cap)
        delay = min(delay, cap)
        if self.jitter and delay > 0:
            spread = delay * min(abs(_finite_or(self.jitter, 0.0)), 1.0)
            delay += (rng or random).uniform(-spread, spread)
        return min(max(delay, 0.0), cap)


def _finite_or(value: float, fallback: float) -> float:
    return value if math.isfinite(value) else fallback


def _grown(delay: float, factor: float, exponent: int, cap: float) -> float:
    """``delay * factor ** exponent``, or ``cap`` when that would reach it (no overflow)."""
    if delay <= 0 or exponent == 0 or factor == 1:
        return delay
    if not math.isfinite(factor) or factor <= 0:
        return cap if factor > 1 else 0.0
    if factor < 1:
        # Shrinking: underflow towards zero is harmless, but keep the exponent an int.
        return delay * factor ** min(exponent, 10_000)
    if cap <= 0 or math.log(delay) + min(exponent, 1_000_000) * math.log(factor) >= math.log(cap):
        return cap
    return delay * factor**exponent
