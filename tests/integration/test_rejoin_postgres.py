"""A player back in time keeps the seat a reply gave them, on a real PostgreSQL and
Redis: the rejoin takes the held seat back under the room's row lock, so a
release of that seat serialised on the lock sees it (and the other way round:
a release that locked first wins, and get_room says not_in_room).

The interleavings are forced through the release's presence calls, as in
``tests/unit/test_rejoin_held_seat.py``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from rooms_adapters.postgres import PoolSettings, PostgresUnitOfWorkFactory, add_user
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_live_state import RedisLiveStateCache
from rooms_adapters.redis_presence import RedisPresence, room_presence_key
from rooms_domain import (
    CreateRoom,
    CreateRoomCommand,
    RequestId,
    RoomId,
    SecureCodeGenerator,
    UserId,
)
from rooms_domain.commands import GetRoomCommand, JoinRoomCommand
from rooms_domain.errors import NotInRoom
from rooms_domain.presence import HeldSeat
from rooms_domain.use_cases import GetRoom, JoinRoom
from rooms_domain.use_cases.release_seats import Released, ReleaseExpiredSeats
from tests.integration.redis_fixtures import RoomKeys
from tests.unit.harness import FixedClock

pytestmark = pytest.mark.integration

HOLD_S = 1

Rejoin = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class HeldBob:
    """Ann and Bob in a room on PostgreSQL and Redis, Bob gone a whole hold ago."""

    room_id: RoomId
    bob: UserId
    presence: RedisPresence
    release: ReleaseExpiredSeats
    ways: dict[str, Rejoin]
    pg_pool: asyncpg.Pool[asyncpg.Record]

    async def seated(self) -> bool:
        async with self.pg_pool.acquire() as conn:
            found = await conn.fetchval(
                "SELECT count(*) FROM room_seats WHERE room_id = $1 AND user_id = $2",
                self.room_id,
                self.bob,
            )
        return bool(found)


@pytest.fixture
async def held_bob(
    redis_url: str,
    pg_pool: asyncpg.Pool[asyncpg.Record],
    room_keys: RoomKeys,
) -> AsyncIterator[HeldBob]:
    client = redis_client(redis_url, redis_timeout_s=2.0)
    prefix = f"rejoin-test-{uuid.uuid4().hex[:8]}"
    rooms: list[RoomId] = []
    try:
        clock = FixedClock()
        presence = RedisPresence(client, timeout_s=30, redis_timeout_s=2.0, prefix=prefix)
        deps: dict[str, Any] = {
            "uow_factory": PostgresUnitOfWorkFactory(pg_pool, PoolSettings()),
            "live_state": RedisLiveStateCache(client, redis_timeout_s=2.0),
            "clock": clock,
            "live_state_timeout_s": 2.0,
        }
        create = CreateRoom(codes=SecureCodeGenerator(), **deps)
        join, get = JoinRoom(presence=presence, **deps), GetRoom(presence=presence, **deps)
        ann, bob = await add_user(pg_pool, "Ann"), await add_user(pg_pool, "Bob")
        ok = await create(CreateRoomCommand.from_payload(ann, rid(), {"ruleset_id": "classic"}))
        room_keys.track(ok.room_id)
        rooms.append(ok.room_id)
        code = {"code": str(ok.code)}
        joined = JoinRoomCommand.from_payload(bob, rid(), code)  # to resend after a reconnect
        await join(joined)
        await presence.beat("a", clock.now)
        for user in (ann, bob):
            await presence.connect(ok.room_id, user, "a", clock.now)
        assert await presence.disconnect(ok.room_id, bob, "a", clock.now)
        clock.now += HOLD_S * 1000
        release = ReleaseExpiredSeats(hold_s=HOLD_S, presence=presence, **deps)
        ways: dict[str, Rejoin] = {
            "join_room": lambda: join(JoinRoomCommand.from_payload(bob, rid(), code)),
            "join_room replayed": lambda: join(joined),
            "get_room": lambda: get(
                GetRoomCommand.from_payload(bob, rid(), {"room_id": str(ok.room_id)})
            ),
        }
        yield HeldBob(ok.room_id, bob, presence, release, ways, pg_pool)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        keys += [room_presence_key(room) for room in rooms]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.mark.parametrize("way", ["join_room", "join_room replayed", "get_room"])
async def test_a_rejoin_between_the_batch_and_the_rooms_lock_keeps_the_seat(
    way: str, held_bob: HeldBob, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = held_bob
    replies = []
    read_batch = s.presence.held

    async def then_bob_comes_back(since_until_ms: int, limit: int) -> list[HeldSeat]:
        batch = await read_batch(since_until_ms, limit)
        replies.append(await s.ways[way]())  # answered; his socket has yet to follow
        return batch

    monkeypatch.setattr(s.presence, "held", then_bob_comes_back)
    assert await s.release() == []
    assert len(replies) == 1
    assert await s.seated()


async def test_get_room_after_a_release_that_locked_the_room_first_is_not_in_room(
    held_bob: HeldBob, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = held_bob
    asked: list[asyncio.Task[dict[str, Any]]] = []
    held_since_ms = s.presence.held_since_ms

    async def bob_asks_meanwhile(room: RoomId, user: UserId) -> int | None:
        # The release holds the room's row lock: Bob's get_room waits on it.
        if asked:  # the rejoin's own read (RedisPresence.is_held is one)
            return await held_since_ms(room, user)
        asked.append(asyncio.create_task(s.ways["get_room"]()))
        await asyncio.wait(asked, timeout=0.3)
        return await held_since_ms(room, user)

    monkeypatch.setattr(s.presence, "held_since_ms", bob_asks_meanwhile)
    assert await s.release() == [Released(s.room_id, s.bob, 1)]
    with pytest.raises(NotInRoom):
        await asked[0]
    assert not await s.seated()


def rid() -> RequestId:
    return RequestId(uuid.uuid4())
