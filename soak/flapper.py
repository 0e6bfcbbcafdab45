"""Redis on a schedule: up for ``every_s - down_s``, then down for ``down_s``, in turns.

The faults rotate so that each kind of outage a process meets in production
happens during the run: a crash (SIGKILL, then a fresh server on the same
port), a clean stop and start, and a freeze (SIGSTOP/SIGCONT: connections
stay open and nothing answers).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from itertools import cycle

from rooms_adapters.embedded.redis import EmbeddedRedis

FAULTS = ("kill", "stop", "freeze")


class Flapper:
    def __init__(self, redis: EmbeddedRedis, *, every_s: float, down_s: float) -> None:
        if not 0 < down_s < every_s:
            raise ValueError("need 0 < down_s < every_s")
        self._redis = redis
        self._every_s = every_s
        self._down_s = down_s
        self.faults: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        for fault in cycle(FAULTS):
            if await _wait(stop, self._every_s - self._down_s):
                return
            await asyncio.to_thread(self._begin, fault)
            self.faults[fault] += 1
            try:
                await _wait(stop, self._down_s)
            finally:
                # Always back up, even when the run ends mid-fault.
                await asyncio.to_thread(self._end, fault)
            if stop.is_set():
                return

    def _begin(self, fault: str) -> None:
        if fault == "kill":
            self._redis.kill()
        elif fault == "stop":
            self._redis.stop()
        else:
            self._redis.pause()

    def _end(self, fault: str) -> None:
        if fault == "freeze":
            self._redis.resume()
        else:
            self._redis.restart()


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; whether it was."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True
