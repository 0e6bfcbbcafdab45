"""The Presence contract against Redis (the memory fake passes the same one)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_live_state import RedisLiveStateCache, meta_key, seats_key
from rooms_adapters.redis_presence import RedisPresence, room_presence_key
from rooms_adapters.redis_presence_keys import PresenceKeys
from rooms_domain import LiveUpdate, RoomId
from rooms_domain.presence import dead_after_ms
from tests.contracts.presence import (
    T0,
    TIMEOUT_S,
    LoseView,
    PresenceContract,
    a_room_of_three,
    seat,
)
from tests.integration.redis_fixtures import RoomKeys, TrackedLiveState

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix() -> str:
    # Its own: the suite may share a Redis with other runs.
    return f"presence-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(redis_url, redis_timeout_s=2.0)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def presence(
    client: aioredis.Redis, prefix: str, room_keys: RoomKeys
) -> AsyncIterator[RedisPresence]:
    try:
        yield RedisPresence(client, timeout_s=TIMEOUT_S, redis_timeout_s=2.0, prefix=prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        keys += [room_presence_key(room) for room in room_keys.room_ids]
        if keys:
            await client.delete(*keys)


@pytest.fixture
def live_state(client: aioredis.Redis, prefix: str, room_keys: RoomKeys) -> TrackedLiveState:
    """The cache knowing this test's presence keys, as the container builds it."""
    keys = PresenceKeys(dead_after_ms(TIMEOUT_S), prefix)
    cache = RedisLiveStateCache(client, redis_timeout_s=2.0, presence=keys)
    return TrackedLiveState(cache, room_keys)


@pytest.fixture
def lose_view(client: aioredis.Redis) -> LoseView:
    async def lose(room_id: RoomId) -> None:
        await client.delete(meta_key(room_id), seats_key(room_id))

    return lose


class TestRedisPresence(PresenceContract):
    pass


# --- Redis only ----------------------------------------------------------------------


async def test_a_room_presence_set_lost_with_the_view_is_read_from_the_instance_sets(
    presence: RedisPresence, live_state: TrackedLiveState, client: aioredis.Redis
) -> None:
    room, names = a_room_of_three()
    ann = room.owner_user_id
    await presence.beat("a", T0)
    await presence.connect(room.room_id, ann, "a", T0)
    # Lost with the view: the room's set. The instance still beats, so it
    # would never announce again what it follows.
    await client.delete(room_presence_key(room.room_id))
    await live_state.apply(room.room_id, LiveUpdate.of(room, names, (), T0 + 1))
    assert (await seat(live_state, room.room_id, 0))["connected"] is True
    assert not await presence.is_held(room.room_id, ann)
    # Put back, so the socket's closing finds the user there.
    assert await client.smembers(room_presence_key(room.room_id)) == {f"{ann}/a".encode()}
    assert await presence.disconnect(room.room_id, ann, "a", T0 + 2) is True


async def test_a_cache_that_does_not_know_presence_shows_everyone_connected(
    client: aioredis.Redis, room_keys: RoomKeys
) -> None:
    room, names = a_room_of_three()
    cache = TrackedLiveState(RedisLiveStateCache(client, redis_timeout_s=2.0), room_keys)
    await cache.apply(room.room_id, LiveUpdate.of(room, names, (), T0))
    for i in range(3):
        assert (await seat(cache, room.room_id, i))["connected"] is True
