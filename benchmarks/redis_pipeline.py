"""Client CPU per live-state write: the pipeliner against the connection-per-call path it replaced.

    .venv/bin/python -m benchmarks.redis_pipeline redis://127.0.0.1:6379/0 [--calls 20000]

For each concurrency (1, 16, 64 callers, each writing rooms back to back) and
each path, in alternation (A, B, A, B, ...: the machine is shared and noisy),
it runs ``RedisLiveStateCache.room_created`` ``--calls`` times and prints this
process's CPU time (user + system) per call, and the socket writes per call.

``pipelined`` is the adapter as it is; ``per-call`` is the same adapter's write
as it was before auto-pipelining (``send_packed_command`` then ``read_response``
on one of eight connections kept out of the pool, see ``_PerCallWrite``), each
behind the same guard. The keys written are deleted at the end of each run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable

from redis.asyncio.connection import Connection

from rooms_adapters.redis_client import PipelinedRedis, redis_client
from rooms_adapters.redis_live_state import (
    _EXEC,
    _MULTI,
    RedisLiveStateCache,
    _hset,
    meta_key,
    seats_key,
)
from rooms_domain.live_state import LiveRoomView
from rooms_domain.model import RoomId

Write = Callable[[RoomId, LiveRoomView], Awaitable[None]]


class _PerCallWrite:
    """The write before the pipeliner: each call sends its MULTI/EXEC and reads its replies
    on a connection of its own (one of eight kept out of the pool), as the adapter did."""

    def __init__(self, client: PipelinedRedis, cache: RedisLiveStateCache) -> None:
        self._pool = client.connection_pool
        self._cache = cache
        self._idle: list[Connection] = []
        self._kept = 0

    async def __call__(self, room_id: RoomId, view: LiveRoomView) -> None:
        packed = b"".join(
            (
                _MULTI,
                _hset(meta_key(room_id), view.meta),
                _hset(seats_key(room_id), view.seats),
                _EXEC,
            )
        )
        await self._cache._guard.run(lambda: self._transaction(packed, 2), room_id)

    async def _transaction(self, packed: bytes, queued: int) -> list[object]:
        kept = bool(self._idle) or self._kept < 8
        if self._idle:
            conn = self._idle.pop()
        else:
            self._kept += kept  # before the wait: the callers woken with it count it
            conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
            if kept:
                conn.socket_timeout = None
        await conn.send_packed_command(packed, check_health=False)
        for _ in range(queued + 1):
            await conn.read_response(timeout=math.inf)
        replies = await conn.read_response(timeout=math.inf)
        if kept:
            self._idle.append(conn)
        else:
            await self._pool.release(conn)
        assert isinstance(replies, list)
        return replies


async def _run(url: str, path: str, concurrency: int, calls: int) -> tuple[float, float]:
    """CPU seconds per call and writes per call (pipelined only; else nan)."""
    from tests.contracts.live_state import a_view

    client = redis_client(url, redis_timeout_s=5.0)
    cache = RedisLiveStateCache(client, redis_timeout_s=5.0)
    write: Write = cache.room_created if path == "pipelined" else _PerCallWrite(client, cache)
    views = [a_view() for _ in range(calls)]
    per_worker = calls // concurrency
    try:
        await write(*views[-1])  # connected
        writes_before = client.pipeliner.stats.writes

        async def worker(index: int) -> None:
            for room_id, view in views[index * per_worker : (index + 1) * per_worker]:
                await write(room_id, view)

        started = time.process_time()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        cpu = time.process_time() - started
        done = per_worker * concurrency
        writes = client.pipeliner.stats.writes - writes_before
        keys = [k for room_id, _ in views for k in (meta_key(room_id), seats_key(room_id))]
        for i in range(0, len(keys), 1000):
            await client.delete(*keys[i : i + 1000])
    finally:
        await client.aclose()
    return cpu / done, (writes / done if path == "pipelined" else math.nan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,16,64")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()  # as the server runs
    except ImportError:
        pass
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        cpu: dict[str, list[float]] = {"per-call": [], "pipelined": []}
        writes: list[float] = []
        for _ in range(args.rounds):
            for path in ("per-call", "pipelined"):
                per_call, per_write = asyncio.run(_run(args.url, path, concurrency, args.calls))
                cpu[path].append(per_call)
                if path == "pipelined":
                    writes.append(per_write)
        a, b = (statistics.median(cpu[p]) * 1e6 for p in ("per-call", "pipelined"))
        print(
            f"C={concurrency:3d}  per-call {a:6.1f} µs  pipelined {b:6.1f} µs  "
            f"(x{b / a:.2f})  writes/call {statistics.median(writes):.3f}  "
            f"runs: {' '.join(f'{v * 1e6:.0f}' for v in cpu['per-call'])} | "
            f"{' '.join(f'{v * 1e6:.0f}' for v in cpu['pipelined'])}"
        )


if __name__ == "__main__":
    main()
