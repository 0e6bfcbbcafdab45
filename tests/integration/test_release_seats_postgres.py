"""Held seats released on a real PostgreSQL and Redis by several instances at once:
each expired seat exactly once (one commit, one player_left), whatever the interleaving."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from rooms_adapters.postgres import PoolSettings, PostgresUnitOfWorkFactory, add_user, create_pool
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_events import RedisRoomEvents
from rooms_adapters.redis_live_state import RedisLiveStateCache
from rooms_adapters.redis_presence import RedisPresence
from rooms_domain import (
    CreateRoom,
    CreateRoomCommand,
    RequestId,
    RoomId,
    SecureCodeGenerator,
    SystemClock,
    UserId,
)
from rooms_domain.commands import JoinRoomCommand
from rooms_domain.use_cases import JoinRoom
from rooms_domain.use_cases.release_seats import ReleaseExpiredSeats
from tests.contracts.room_events import Inbox
from tests.contracts.support import eventually
from tests.integration.redis_fixtures import RoomKeys

pytestmark = pytest.mark.integration

INSTANCES = 4
ROOMS = 5


@dataclass
class Instance:
    """What one server process would hold: its pool, its Redis client, its adapters."""

    pool: asyncpg.Pool[asyncpg.Record]
    release: ReleaseExpiredSeats


@pytest.fixture
async def prefix(redis_url: str, room_keys: RoomKeys) -> AsyncIterator[str]:
    prefix = f"presence-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis_client(redis_url, redis_timeout_s=2.0)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        keys += [f"room:{room}:presence" for room in room_keys.room_ids]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_several_instances_release_each_expired_seat_exactly_once(
    database_url: str,
    redis_url: str,
    pg_pool: asyncpg.Pool[asyncpg.Record],
    room_events: RedisRoomEvents,
    room_keys: RoomKeys,
    prefix: str,
) -> None:
    settings = PoolSettings(max_size=3)
    instances: list[Instance] = []
    clients = []
    for _ in range(INSTANCES):
        pool = await create_pool(database_url, settings)
        client = redis_client(redis_url, redis_timeout_s=2.0)
        clients.append(client)
        live_state = RedisLiveStateCache(client, redis_timeout_s=2.0)
        presence = RedisPresence(client, timeout_s=30, redis_timeout_s=2.0, prefix=prefix)
        release = ReleaseExpiredSeats(
            uow_factory=PostgresUnitOfWorkFactory(pool, settings),
            live_state=live_state,
            presence=presence,
            clock=SystemClock(),
            hold_s=0,  # every held seat is due at once
            live_state_timeout_s=2.0,
        )
        instances.append(Instance(pool, release))
    try:
        first = PostgresUnitOfWorkFactory(instances[0].pool, settings)
        cache = RedisLiveStateCache(clients[0], redis_timeout_s=2.0)
        presence = RedisPresence(clients[0], timeout_s=30, redis_timeout_s=2.0, prefix=prefix)
        deps = {"uow_factory": first, "live_state": cache, "clock": SystemClock()}
        create = CreateRoom(codes=SecureCodeGenerator(), **deps)  # type: ignore[arg-type]
        join = JoinRoom(**deps)  # type: ignore[arg-type]
        clock = SystemClock()
        await presence.beat("a", clock.now_ms())
        inbox = Inbox()
        gone: set[tuple[RoomId, UserId]] = set()
        for r in range(ROOMS):
            host = await add_user(pg_pool, f"Host{r}")
            ok = await create(
                CreateRoomCommand.from_payload(host, rid(), {"ruleset_id": "classic"})
            )
            room_keys.track(ok.room_id)
            await room_events.subscribe(ok.room_id, inbox)
            await presence.connect(ok.room_id, host, "a", clock.now_ms())
            for g in range(2):
                guest = await add_user(pg_pool, f"G{r}.{g}")
                await join(JoinRoomCommand.from_payload(guest, rid(), {"code": str(ok.code)}))
                await presence.connect(ok.room_id, guest, "a", clock.now_ms())
                assert await presence.disconnect(ok.room_id, guest, "a", clock.now_ms())
                gone.add((ok.room_id, guest))

        # Every instance, two tasks each, at once.
        results = await asyncio.gather(
            *(i.release() for i in instances for _ in range(2)), return_exceptions=False
        )

        released = [(r.room_id, r.user_id) for result in results for r in result]
        assert sorted(released) == sorted(gone)  # each once, no more
        async with pg_pool.acquire() as conn:
            versions = await conn.fetch(
                "SELECT version FROM rooms WHERE room_id = ANY($1::uuid[])",
                [room for room, _ in gone],
            )
            seated = await conn.fetchval(
                "SELECT count(*) FROM room_seats WHERE user_id = ANY($1::uuid[])",
                [user for _, user in gone],
            )
        assert [v["version"] for v in versions] == [4] * ROOMS  # 2 joins, 2 releases
        assert seated == 0

        def left() -> list[tuple[str, str, str]]:
            frames = [json.loads(m) for m in inbox.messages]
            return [
                (f["payload"]["room_id"], f["payload"]["user_id"], f["payload"]["reason"])
                for f in frames
                if f["type"] == "player_left"
            ]

        expected = sorted((str(room), str(user), "timeout") for room, user in gone)
        await eventually(lambda: sorted(left()) == expected)
        await asyncio.sleep(0.3)  # time for a second one to arrive, were there one
        assert sorted(left()) == expected
        # Nothing left to release.
        assert await instances[1].release() == []
        assert await presence.held_count() == 0
    finally:
        for instance in instances:
            await instance.pool.close()
        for client in clients:
            await client.aclose()


def rid() -> RequestId:
    return RequestId(uuid.uuid4())
