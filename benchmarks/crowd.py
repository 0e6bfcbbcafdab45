"""Phase 5, client side: many full rooms, one request type per window.

R rooms of M members each (one user, one connection per member). Set-up
(not measured): every host creates a room. Then three windows, each made of
one request type only, so the server's CPU sampled at a window's edges
divided by its requests is that type's cost. A first ``quiet`` window of
``duration_s`` sends nothing: what the server spends with every member
connected and in its room but silent (keepalive pings, housekeeping) is the
background the parent subtracts, pro rata, from the others.

- ``quiet``: nothing sent, ``SETTLE_S`` after every guest has joined (the
  joins' own trailing work is not background);

- ``join``: every guest joins its room by code (``parallel`` requests in flight);
- ``set_ready``: for ``duration_s``, requests at ``rate`` per second, each by a
  random member, toggling its ready flag; the M-1 other members' sockets time
  the ``player_ready`` event from the request being sent (one clock);
- ``leave``: every guest leaves (``parallel`` in flight).

The parent is told at each window's edges (marks ``<name> start`` / ``<name> stop``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from websockets.exceptions import ConnectionClosed

from benchmarks import aio
from benchmarks.lobby import EventKey, Member, RequestFailed
from benchmarks.worker import mark
from benchmarks.wsclient import Compression, close_all, open_all

WINDOWS = ("join_room", "set_ready", "leave_room")
QUIET = "quiet"
SETTLE_S = 3.0
STRAGGLER_WAIT_S = 2.0
_CREATE = {"visibility": "private", "max_players": 4, "ruleset_id": "classic", "ruleset_config": {}}


@dataclass(frozen=True, slots=True)
class CrowdPlan:
    url: str
    tokens: list[str]  # members * rooms: host, guests of room 0, host, guests of room 1 ...
    members: int
    rate: float
    duration_s: float
    compression: Compression
    parallel: int = 64


@dataclass(slots=True)
class CrowdResult:
    """Per window: requests answered ok, their latencies, and what failed."""

    rooms: int = 0
    ok: Counter[str] = field(default_factory=Counter)
    replies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    events_ms: list[float] = field(default_factory=list)
    unheard_events: int = 0


def run_crowd(channel: Connection, plan: CrowdPlan) -> CrowdResult:
    """Worker entry point."""
    return aio.run(_crowd(channel, plan))


async def _crowd(channel: Connection, plan: CrowdPlan) -> CrowdResult:
    connections = await open_all(plan.url, plan.tokens, plan.compression)
    members = [Member(ws) for ws in connections]
    rooms = [members[i : i + plan.members] for i in range(0, len(members), plan.members)]
    result = CrowdResult(rooms=len(rooms))
    try:
        ids, codes = await _create_all(rooms, plan.parallel, result)
        guests = [(m, {"code": codes[r]}) for r, room in enumerate(rooms) for m in room[1:]]
        await _burst(channel, "join_room", guests, plan.parallel, result)
        # What the joins left in flight (presence steps, events still being
        # written) is theirs, not the background: let it finish first.
        await asyncio.sleep(SETTLE_S)
        mark(channel, f"{QUIET} start")
        await asyncio.sleep(plan.duration_s)
        mark(channel, f"{QUIET} stop")
        await _ready_window(channel, rooms, ids, plan, result)
        leaving = [(m, {"room_id": ids[r]}) for r, room in enumerate(rooms) for m in room[1:]]
        await _burst(channel, "leave_room", leaving, plan.parallel, result)
    finally:
        await close_all(connections)
        await asyncio.gather(*(m.reader for m in members), return_exceptions=True)
    return result


async def _bounded(parallel: int, jobs: Sequence[Callable[[], Awaitable[None]]]) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(one(j) for j in jobs))


async def _ask(member: Member, type_: str, payload: dict[str, Any], result: CrowdResult) -> None:
    try:
        _, sent, done = await member.ask(type_, payload)
    except RequestFailed as exc:
        result.errors[str(exc)] += 1
    except (TimeoutError, ConnectionClosed) as exc:
        result.errors[f"{type_}:{type(exc).__name__}"] += 1
    else:
        result.ok[type_] += 1
        result.replies_ms.setdefault(type_, []).append((done - sent) * 1000.0)


async def _create_all(
    rooms: list[list[Member]], parallel: int, result: CrowdResult
) -> tuple[list[str], list[str]]:
    ids = [""] * len(rooms)
    codes = [""] * len(rooms)

    def job(index: int) -> Callable[[], Awaitable[None]]:
        async def create() -> None:
            body, _, _ = await rooms[index][0].ask("create_room", dict(_CREATE))
            ids[index], codes[index] = str(body["room_id"]), str(body["code"])

        return create

    await _bounded(parallel, [job(i) for i in range(len(rooms))])
    return ids, codes


async def _burst(
    channel: Connection,
    type_: str,
    requests: list[tuple[Member, dict[str, Any]]],
    parallel: int,
    result: CrowdResult,
) -> None:
    def job(member: Member, payload: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        return lambda: _ask(member, type_, payload, result)

    mark(channel, f"{type_} start")
    await _bounded(parallel, [job(m, p) for m, p in requests])
    mark(channel, f"{type_} stop")


async def _ready_window(
    channel: Connection,
    rooms: list[list[Member]],
    ids: list[str],
    plan: CrowdPlan,
    result: CrowdResult,
) -> None:
    picker = random.Random(5)
    ready: dict[int, bool] = {}
    busy: set[int] = set()  # one request in flight per member: its toggles stay ordered
    expected: list[tuple[Member, EventKey, float]] = []
    tasks: list[asyncio.Task[None]] = []

    async def toggle(r: int, s: int) -> None:
        member, key = rooms[r][s], r * plan.members + s
        ready[key] = not ready.get(key, False)
        try:
            body, sent, done = await member.ask(
                "set_ready", {"room_id": ids[r], "ready": ready[key]}
            )
        except RequestFailed as exc:
            result.errors[str(exc)] += 1
            return
        except (TimeoutError, ConnectionClosed) as exc:
            result.errors[f"set_ready:{type(exc).__name__}"] += 1
            return
        finally:
            busy.discard(key)
        result.ok["set_ready"] += 1
        result.replies_ms.setdefault("set_ready", []).append((done - sent) * 1000.0)
        event: EventKey = (ids[r], "player_ready", int(body["version"]))
        expected.extend((other, event, sent) for other in rooms[r] if other is not member)

    mark(channel, "set_ready start")
    started = time.monotonic()
    count = int(plan.rate * plan.duration_s)
    for seq in range(count):
        pause = started + seq / plan.rate - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        r, s = picker.randrange(len(rooms)), picker.randrange(plan.members)
        if r * plan.members + s in busy:
            continue
        busy.add(r * plan.members + s)
        tasks.append(asyncio.create_task(toggle(r, s)))
    await asyncio.gather(*tasks)
    mark(channel, "set_ready stop")
    await asyncio.sleep(STRAGGLER_WAIT_S)
    for other, key, sent in expected:
        arrived = other.heard.get(key)
        if arrived is None:
            result.unheard_events += 1
        else:
            result.events_ms.append((arrived - sent) * 1000.0)
