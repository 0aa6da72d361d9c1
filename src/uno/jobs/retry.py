"""When the next attempt of a failed job is due."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``delay`` seconds before a retry, optionally growing exponentially with jitter.

    With ``backoff`` the n-th retry (1-based) waits ``delay * factor ** (n - 1)``,
    capped at ``max_delay``; ``jitter`` spreads that by up to the given fraction so
    that a burst of failures does not come back as a burst of retries.
    """

    delay: float = 60.0
    backoff: bool = False
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.0

    def delay_for(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
        delay = self.delay
        if self.backoff:
            delay = min(self.delay * self.factor ** max(retry_number - 1, 0), self.max_delay)
        if self.jitter:
            spread = delay * self.jitter
            delay += (rng or random).uniform(-spread, spread)
        return max(delay, 0.0)
