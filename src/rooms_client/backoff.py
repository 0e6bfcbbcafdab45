"""How often, and how patiently, the client tries again."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded attempts with jittered exponential backoff.

    ``attempts`` bounds both the tries of one request (the first included)
    and the connection attempts in a row. ``refused_attempts`` bounds the
    first connection's tries while the address refuses outright (nothing
    listens there): a wrong port is reported in about a second, not after
    the whole backoff. The n-th wait (from 0) is drawn
    from ``[d/2, d]`` with ``d = min(cap_s, base_s * 2**n)``: the half that
    is random spreads clients that lost the same server apart, the half that
    is not keeps the backoff growing.
    """

    attempts: int = 8
    base_s: float = 0.25
    cap_s: float = 8.0
    reply_timeout_s: float = 15.0
    open_timeout_s: float = 10.0
    refused_attempts: int = 3

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.refused_attempts < 1:
            raise ValueError("attempts and refused_attempts must be at least 1")
        if self.base_s < 0 or self.cap_s < self.base_s:
            raise ValueError("need 0 <= base_s <= cap_s")
        if self.reply_timeout_s <= 0 or self.open_timeout_s <= 0:
            raise ValueError("timeouts must be positive")

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(retry, 62))
        return ceiling / 2 + rand() * ceiling / 2
