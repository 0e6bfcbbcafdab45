"""Per-connection token bucket (contract §1: ROOMS_RATE_PER_SECOND / ROOMS_RATE_BURST)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``burst`` frames at once, then ``rate`` per second; ``strikes`` counts refusals in a row.

    The strike count is what tells a client that overshoots once (it gets
    ``rate_limited`` and slows down) from one that keeps hammering (closed
    with 4008): it resets on every frame that is let through.
    """

    __slots__ = ("_burst", "_clock", "_rate", "_stamp", "_tokens", "strikes")

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self.strikes = 0

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self.strikes = 0
            return True
        self.strikes += 1
        return False
