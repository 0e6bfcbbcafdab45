"""ExpiryTimers: the connections expiring in one second share one loop timer."""

from __future__ import annotations

import asyncio
import time

from rooms_ws.expiry import ExpiryTimers


class Connection:
    def __init__(self) -> None:
        self.told = 0

    def expired(self) -> None:
        self.told += 1


async def test_each_connection_is_told_once_its_second_is_past() -> None:
    timers = ExpiryTimers()
    soon, later = Connection(), Connection()
    now = time.time()
    timers.add(now + 0.05, soon)
    timers.add(now + 60, later)
    await asyncio.sleep(1.2)  # the end of soon's second, whatever the fraction now
    assert (soon.told, later.told) == (1, 0)
    assert len(timers) == 1


async def test_connections_of_one_second_share_a_timer_dropped_with_the_last() -> None:
    timers = ExpiryTimers()
    first, second = Connection(), Connection()
    expires_at = float(int(time.time()) + 30)
    key = timers.add(expires_at, first)
    assert timers.add(expires_at, second) == key
    assert len(timers._timers) == 1
    timers.discard(key, first)
    assert len(timers._timers) == 1
    timers.discard(key, second)
    assert timers._timers == {} and len(timers) == 0
