"""The Presence contract against Redis (the memory fake passes the same one)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_presence import RedisPresence
from tests.contracts.presence import TIMEOUT_S, PresenceContract
from tests.integration.redis_fixtures import RoomKeys

pytestmark = pytest.mark.integration


@pytest.fixture
async def presence(redis_url: str, room_keys: RoomKeys) -> AsyncIterator[RedisPresence]:
    client = redis_client(redis_url, redis_timeout_s=2.0)
    # Its own prefix: the suite may share a Redis with other runs.
    prefix = f"presence-test-{uuid.uuid4().hex[:8]}"
    try:
        yield RedisPresence(client, timeout_s=TIMEOUT_S, redis_timeout_s=2.0, prefix=prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        keys += [f"room:{room}:presence" for room in room_keys.room_ids]
        if keys:
            await client.delete(*keys)
        await client.aclose()


class TestRedisPresence(PresenceContract):
    pass
