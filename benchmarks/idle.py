"""Phase 2, client side: open idle authenticated connections, level by level.

After a few warm-up connections (opened and closed, so that everything a
server loads lazily is loaded), the worker opens connections up to each level
of ``levels`` in turn, tells the parent, and holds them open until the parent
has sampled the server's memory. With ``follow`` (the rooms server only),
each new connection first creates a room, 64 requests in flight, and so
follows it (is subscribed to its events) while it idles; nothing else is sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from benchmarks import aio
from benchmarks.loadgen import REPLY_TIMEOUT_S, answer_to, create_room_frame
from benchmarks.worker import mark
from benchmarks.wsclient import Compression, close_all, open_many

WARMUP_CONNECTIONS = 16
CREATE_FAILED = "create:"  # prefix of a refused create_room: the connection stays open


@dataclass(frozen=True, slots=True)
class IdlePlan:
    url: str
    tokens: list[str]
    levels: list[int]
    compression: Compression
    follow: bool = False


def run_idle(channel: Connection, plan: IdlePlan) -> dict[int, Counter[str]]:
    """Worker entry point: returns the refused handshakes of each level."""
    return aio.run(_idle(channel, plan))


async def _idle(channel: Connection, plan: IdlePlan) -> dict[int, Counter[str]]:
    warm, _ = await open_many(plan.url, plan.tokens[:WARMUP_CONNECTIONS], plan.compression)
    await close_all(warm)
    mark(channel, "warm")
    await aio.go(channel)
    held: list[ClientConnection] = []
    failures: dict[int, Counter[str]] = {}
    used = 0
    try:
        for level in plan.levels:
            opened, failures[level] = await open_many(
                plan.url, plan.tokens[used:level], plan.compression
            )
            used = level
            held.extend(opened)
            if plan.follow:
                failures[level].update(await _create_rooms(opened))
            mark(channel, f"open {level}")
            await aio.go(channel)
    finally:
        await close_all(held)
    return failures


async def _create_rooms(connections: list[ClientConnection], parallel: int = 64) -> Counter[str]:
    """Each connection creates one room; returns the failures by reason."""
    gate = asyncio.Semaphore(parallel)
    failed: Counter[str] = Counter()

    async def create(ws: ClientConnection) -> None:
        request_id = str(uuid.uuid4())
        async with gate:
            try:
                async with asyncio.timeout(REPLY_TIMEOUT_S):
                    await ws.send(create_room_frame(request_id))
                    reply = await answer_to(ws, request_id)
            except (TimeoutError, OSError, ConnectionClosed) as exc:
                failed[f"{CREATE_FAILED}{type(exc).__name__}"] += 1
                return
        if reply.get("type") != "create_room_ok":
            failed[f"{CREATE_FAILED}{reply.get('type')}"] += 1

    await asyncio.gather(*(create(ws) for ws in connections))
    return failed
