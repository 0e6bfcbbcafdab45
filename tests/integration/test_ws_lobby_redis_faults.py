"""The lobby through Redis faults, on a real ``rooms serve`` with PostgreSQL and a private Redis.

The server's Redis is ``fault_redis`` (its own ``redis-server``, never the
machine's), killed in the middle of a burst of joins, ready toggles and leaves
and restarted (empty: it keeps nothing on disk). Every reply must still be a
success or one of the lobby's refusals, PostgreSQL must keep the lobby's
invariants, and once Redis is back a ``get_room`` brings the live view to what
PostgreSQL holds (docs/protocol.md: PostgreSQL is the truth, the live view is
repaired by join_room and get_room).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from rooms_adapters.embedded.redis import EmbeddedRedis
from tests.integration.fullstack import GUARD_S, add_user, start_server, until
from tests.integration.lobby_support import Player
from tests.integration.room_state import assert_consistent, rooms_in_postgresql, view_matches
from tests.integration.server_process import ServerProcess, Servers, server_env
from tests.integration.ws_support import client, create_room, token_for

pytestmark = pytest.mark.integration

# The refusals a join, a set_ready or a leave may meet when others race for the
# same rooms; anything else (internal_error above all) is a fault that leaked.
LOBBY_REFUSALS = {"room_full", "room_not_found", "not_in_room"}
STEPS_PER_PLAYER = 14
KILL_AFTER, RESTART_AFTER = 25, 75  # replies received before each fault step


@pytest.fixture
async def server(
    servers: Servers, database_url: str, fault_redis: EmbeddedRedis, tmp_path: Path
) -> ServerProcess:
    # A short breaker keeps the repair after the restart quick; the Redis budget
    # is the default's order of magnitude.
    env = server_env(
        database_url,
        fault_redis.url,
        tmp_path / "data",
        ROOMS_REDIS_TIMEOUT_S="0.5",
        ROOMS_REDIS_BREAKER_OPEN_S="0.5",
    )
    return await start_server(servers, env)


@pytest.fixture
async def fault_admin(fault_redis: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    # Used only once Redis is back: no connection of it predates the restart.
    redis = aioredis.from_url(fault_redis.url, decode_responses=True, socket_timeout=5.0)
    try:
        yield redis
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def connected_players(url: str, dsn: str, count: int) -> AsyncIterator[dict[str, Player]]:
    """``count`` new users, each with one socket: their players by user id."""
    async with contextlib.AsyncExitStack() as stack:
        found = {}
        for i in range(count):
            user = await add_user(dsn, f"P{i}")
            ws = await stack.enter_async_context(client(url, token_for(user)))
            found[str(user)] = Player(ws)
        yield found


async def answered(player: Player, type_: str, **payload: Any) -> dict[str, Any]:
    """A reply within the guard: a hang fails the test here."""
    async with asyncio.timeout(GUARD_S):
        reply: dict[str, Any] = await player.ask(type_, **payload)
    return reply


def outcome(reply: dict[str, Any]) -> str:
    return str(reply["payload"]["code"]) if reply["type"] == "error" else str(reply["type"])


@dataclass
class Burst:
    """Counts the replies, so the faults land in the middle of the traffic."""

    outcomes: list[str] = field(default_factory=list)
    progressed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def record(self, reply: dict[str, Any]) -> None:
        async with self.progressed:
            self.outcomes.append(outcome(reply))
            self.progressed.notify_all()

    async def reached(self, count: int) -> None:
        async with self.progressed:
            await self.progressed.wait_for(lambda: len(self.outcomes) >= count)


async def wander(player: Player, codes: dict[str, str], seed: int, burst: Burst) -> None:
    """Join a room by its code, maybe toggle ready, leave it; seats held are remembered."""
    rng = random.Random(seed)
    seated: set[str] = set()
    for _ in range(STEPS_PER_PLAYER):
        if seated and rng.random() < 0.5:
            room_id = rng.choice(sorted(seated))
            if rng.random() < 0.4:
                reply = await answered(player, "set_ready", room_id=room_id, ready=True)
            else:
                reply = await answered(player, "leave_room", room_id=room_id)
                seated.discard(room_id)
        else:
            room_id, code = rng.choice(sorted(codes.items()))
            reply = await answered(player, "join_room", code=code)
            if reply["type"] == "join_room_ok":
                seated.add(room_id)
        await burst.record(reply)


async def repaired_by_get_room(redis: aioredis.Redis, member: Player, room: dict[str, Any]) -> None:
    """get_room until the view equals PostgreSQL: the first ones after the restart
    may find the breaker still open (the reply succeeds, the view waits)."""

    async def repaired() -> bool:
        reply = await answered(member, "get_room", room_id=room["room_id"])
        assert reply["type"] == "room", reply
        return await view_matches(redis, room)

    await until(repaired, f"get_room to repair the view of {room['room_id']}")


async def test_redis_killed_during_a_burst_of_joins_and_leaves_then_restarted(
    server: ServerProcess,
    database_url: str,
    fault_redis: EmbeddedRedis,
    fault_admin: aioredis.Redis,
) -> None:
    async with connected_players(server.url, database_url, 9) as users:
        everyone = list(users.values())
        hosts = everyone[:3]
        codes = {}
        for host, max_players in zip(hosts, (2, 3, 4), strict=True):
            created = await answered(
                host, "create_room", **create_room(max_players=max_players)["payload"]
            )
            codes[created["payload"]["room_id"]] = created["payload"]["code"]
        burst = Burst()

        async def faults() -> None:
            await burst.reached(KILL_AFTER)
            fault_redis.kill()
            await burst.reached(RESTART_AFTER)
            await asyncio.to_thread(fault_redis.restart)

        # The hosts wander too: they leave their rooms (host succession) and join others.
        await asyncio.gather(
            faults(),
            *(wander(p, codes, seed, burst) for seed, p in enumerate(everyone)),
        )
        print(f"\noutcomes: { {o: burst.outcomes.count(o) for o in sorted(set(burst.outcomes))} }")
        assert (
            set(burst.outcomes)
            <= {"join_room_ok", "leave_room_ok", "set_ready_ok"} | LOBBY_REFUSALS
        )
        assert "join_room_ok" in burst.outcomes and "leave_room_ok" in burst.outcomes

        rooms = await rooms_in_postgresql(database_url, list(codes))
        for room in rooms.values():
            assert_consistent(room)
            occupant = next((s for s in room["seats"] if s["status"] == "occupied"), None)
            if occupant is not None:
                await repaired_by_get_room(fault_admin, users[occupant["user_id"]], room)


async def test_redis_down_during_a_join_the_join_succeeds_and_get_room_repairs_the_view(
    server: ServerProcess,
    database_url: str,
    fault_redis: EmbeddedRedis,
    fault_admin: aioredis.Redis,
) -> None:
    async with connected_players(server.url, database_url, 2) as users:
        host, guest = users.values()
        created = await answered(host, "create_room", **create_room()["payload"])
        room_id, code = created["payload"]["room_id"], created["payload"]["code"]
        fault_redis.kill()
        joined = await answered(guest, "join_room", code=code)
        assert joined["type"] == "join_room_ok", joined
        assert joined["payload"]["seat_index"] == 1 and joined["payload"]["room"]["version"] == 1
        await asyncio.to_thread(fault_redis.restart)

        (room,) = (await rooms_in_postgresql(database_url, [room_id])).values()
        assert room["version"] == 1
        assert not await view_matches(fault_admin, room)  # the restarted Redis is empty
        await repaired_by_get_room(fault_admin, host, room)
