"""Phase 3, client side: 1,000 subscribed connections receiving published events.

Each connection creates a room, which subscribes it to ``room:{id}:events``.
The worker hands the room ids to the parent, which publishes timestamped
events on those channels with a plain Redis client; the worker measures when
each one arrives. Both processes read ``CLOCK_MONOTONIC``, which is one clock
for the whole machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from benchmarks import aio
from benchmarks.loadgen import REPLY_TIMEOUT_S, create_room_frame
from benchmarks.worker import report
from benchmarks.wsclient import Compression, close_all, open_all

EVENT_TYPE = "bench_event"
STRAGGLER_WAIT_S = 5.0


def event_frame(seq: int) -> bytes:
    """What the parent publishes: a frame the server must pass on unchanged."""
    return orjson.dumps(
        {
            "type": EVENT_TYPE,
            "request_id": None,
            "payload": {"seq": seq, "t_ns": time.monotonic_ns()},
        }
    )


@dataclass(frozen=True, slots=True)
class FanoutPlan:
    url: str
    tokens: list[str]
    compression: Compression
    parallel_creates: int = 32


@dataclass(slots=True)
class FanoutResult:
    latencies_ms: list[float] = field(default_factory=list)
    lost_connections: int = 0
    expected: int = -1
    all_in: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def received(self, latency_ms: float) -> None:
        self.latencies_ms.append(latency_ms)
        if len(self.latencies_ms) == self.expected:
            self.all_in.set()

    def __getstate__(self) -> tuple[list[float], int]:
        # Sent back to the parent without the event (bound to the worker's loop).
        return self.latencies_ms, self.lost_connections

    def __setstate__(self, state: tuple[list[float], int]) -> None:
        self.latencies_ms, self.lost_connections = state
        self.expected, self.all_in = -1, asyncio.Event()


def run_fanout(channel: Connection, plan: FanoutPlan) -> FanoutResult:
    """Worker entry point: returns the delivery latency of every event received."""
    return aio.run(_fanout(channel, plan))


async def _fanout(channel: Connection, plan: FanoutPlan) -> FanoutResult:
    connections = await open_all(plan.url, plan.tokens, plan.compression)
    gate = asyncio.Semaphore(plan.parallel_creates)

    async def create(ws: ClientConnection) -> str:
        async with gate:
            return await _create_room(ws)

    rooms = await asyncio.gather(*(create(ws) for ws in connections))
    result = FanoutResult()
    readers = [asyncio.create_task(_receive(ws, result)) for ws in connections]
    report(channel, rooms)
    result.expected = await aio.go(channel)
    if len(result.latencies_ms) < result.expected:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STRAGGLER_WAIT_S):
                await result.all_in.wait()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await close_all(connections)
    return result


async def _create_room(ws: ClientConnection) -> str:
    request_id = str(uuid.uuid4())
    async with asyncio.timeout(REPLY_TIMEOUT_S):
        await ws.send(create_room_frame(request_id))
        while True:
            frame = orjson.loads(await ws.recv())
            if frame.get("request_id") == request_id:
                break
    if frame.get("type") != "create_room_ok":
        raise RuntimeError(f"create_room failed: {frame}")
    return str(frame["payload"]["room_id"])


async def _receive(ws: ClientConnection, result: FanoutResult) -> None:
    try:
        async for raw in ws:
            arrived = time.monotonic_ns()
            frame = orjson.loads(raw)
            if frame.get("type") == EVENT_TYPE:
                result.received((arrived - frame["payload"]["t_ns"]) / 1e6)
    except ConnectionClosed:
        result.lost_connections += 1
