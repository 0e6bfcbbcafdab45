"""Token expiries of every connection of the process, one loop timer per second that has any.

A loop timer per connection (its handle, the native timer behind it and a
bound method) was a few hundred bytes of every idle socket; tokens expire on
whole seconds (``exp`` is a NumericDate), so the connections expiring in the
same second share one timer. A connection is told at the end of the second
its token expires in, at most a second late; a request after expiry is
refused by the session's own check whatever the timer does.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol


class Expiring(Protocol):
    def expired(self) -> None: ...


class ExpiryTimers:
    def __init__(self) -> None:
        # Second (epoch) -> the connections expiring in it, and its timer.
        self._due: dict[int, set[Expiring]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return sum(len(due) for due in self._due.values())

    def add(self, expires_at: float, connection: Expiring) -> int:
        """Tell ``connection`` once ``expires_at`` (epoch seconds) is past; returns its key."""
        second = math.ceil(expires_at)
        due = self._due.get(second)
        if due is None:
            due = self._due[second] = set()
            loop = asyncio.get_running_loop()
            delay = max(0.0, second - time.time())
            self._timers[second] = loop.call_at(loop.time() + delay, self._fire, second)
        due.add(connection)
        return second

    def discard(self, key: int, connection: Expiring) -> None:
        due = self._due.get(key)
        if due is None:
            return
        due.discard(connection)
        if not due:
            del self._due[key]
            self._timers.pop(key).cancel()

    def _fire(self, second: int) -> None:
        self._timers.pop(second, None)
        for connection in self._due.pop(second, ()):
            connection.expired()
