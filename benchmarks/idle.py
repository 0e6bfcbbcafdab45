"""Phase 2, client side: open idle authenticated connections, level by level.

After a few warm-up connections (opened and closed, so that everything a
server loads lazily is loaded), the worker opens connections up to each level
of ``levels`` in turn, tells the parent, and holds them open until the parent
has sampled the server's memory. Nothing is sent on them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection

from websockets.asyncio.client import ClientConnection

from benchmarks import aio
from benchmarks.worker import mark
from benchmarks.wsclient import Compression, close_all, open_many

WARMUP_CONNECTIONS = 16


@dataclass(frozen=True, slots=True)
class IdlePlan:
    url: str
    tokens: list[str]
    levels: list[int]
    compression: Compression


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
            mark(channel, f"open {level}")
            await aio.go(channel)
    finally:
        await close_all(held)
    return failures
