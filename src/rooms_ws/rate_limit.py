"""Rate limits: per connection (ROOMS_RATE_PER_SECOND / ROOMS_RATE_BURST) and the
per-user create budget (ROOMS_USER_CREATES_PER_MINUTE), as docs/protocol.md states them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


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

    @property
    def last_used(self) -> float:
        return self._stamp

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

    def give_back(self) -> None:
        """Return a token taken for something that turned out to cost nothing."""
        self._tokens = min(self._burst, self._tokens + 1.0)


class KeyedBudget(Generic[Key]):
    """``per_minute`` actions per key (a user), refilled continuously; one per process.

    Each key has a :class:`TokenBucket` of ``per_minute`` tokens refilled over
    a minute, shared by every socket of that key. A bucket untouched for a
    minute is full again and so says nothing: it is forgotten. Buckets are
    kept in the order of their last use, so forgetting looks only at the
    oldest ones, and memory is bounded by the keys active in the last minute,
    however many keys come and go.
    """

    WINDOW_S = 60.0

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._rate = per_minute / self.WINDOW_S
        self._clock = clock
        self._buckets: OrderedDict[Key, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Key) -> bool:
        now = self._clock()
        self._forget_idle(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(
                self._rate, self._per_minute, clock=self._clock
            )
        else:
            self._buckets.move_to_end(key)
        return bucket.take()

    def give_back(self, key: Key) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.give_back()

    def _forget_idle(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if now - oldest.last_used < self.WINDOW_S:
                return
            buckets.popitem(last=False)
