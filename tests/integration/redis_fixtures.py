"""Redis fixtures.

- ``redis_url`` (session): ``ROOMS_TEST_REDIS_URL`` when set, else an embedded
  ``redis-server`` started once for the session and stopped at its end.
- ``room_keys`` (function): records the rooms a test writes and deletes their
  keys afterwards, so a shared server is never flushed and keeps no leftovers.
- ``fault_redis`` (function): a private embedded server the test may kill,
  freeze or restart. Always embedded, even with ``ROOMS_TEST_REDIS_URL``:
  the machine's Redis must not be harmed.
- ``live_state`` / ``room_events``: the real adapters for the contract suites.
- ``redis`` (function): a plain client on ``redis_url`` (decoded strings), to
  read what a server wrote or publish to a room's channel.
- ``presence_prefix`` (function): a ``ROOMS_PRESENCE_KEY_PREFIX`` of the test's
  own; after the test, its servers stopped, its presence keys and the keys of
  every room of its database are deleted.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from harness.services import private_redis, redis_server
from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_events import RedisRoomEvents
from rooms_adapters.redis_live_apply import closed_key
from rooms_adapters.redis_live_state import RedisLiveStateCache, meta_key, seats_key
from rooms_domain import LiveRoomView, LiveUpdate, RoomId
from tests.integration.server_process import Servers, fetch, server_env

__all__ = [
    "TrackedLiveState",
    "fault_redis",
    "live_state",
    "plain_redis",
    "presence_prefix",
    "private_env",
    "redis_url",
    "room_events",
    "room_keys",
]

REDIS_URL_ENV = "ROOMS_TEST_REDIS_URL"

# Generous bounds for tests about behaviour, not speed: a loaded CI machine
# must not turn them red. The fault tests pass tight bounds explicitly.
TEST_TIMEOUT_S = 2.0


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get(REDIS_URL_ENV) or None
    with redis_server(configured, tmp_path_factory.mktemp("redis")) as url:
        yield url
        if configured is None:
            _warn_about_leftover_keys(url)


# Shared by every server the session ran (their beats, the seats their
# players left held when a test ended), not one test's: not a leak.
_SHARED_PRESENCE_KEYS = ("presence:instances", "presence:held")


def _warn_about_leftover_keys(url: str) -> None:
    # Only on the session's own server: on a shared one, keys may be anyone's.
    with redis.Redis.from_url(url, decode_responses=True) as client:
        client.delete(*_SHARED_PRESENCE_KEYS)
        left = sorted(client.scan_iter(count=1000))
    if left:
        warnings.warn(f"tests left Redis keys behind: {left[:10]}", stacklevel=1)


class RoomKeys:
    """The rooms a test wrote; their keys are deleted after the test."""

    def __init__(self) -> None:
        self.room_ids: set[RoomId] = set()

    def track(self, room_id: RoomId) -> None:
        self.room_ids.add(room_id)

    async def delete(self, client: aioredis.Redis) -> None:
        keys = [
            key
            for room in self.room_ids
            for key in (meta_key(room), seats_key(room), closed_key(room))
        ]
        if keys:
            await client.delete(*keys)


@pytest.fixture
async def room_keys(redis_url: str) -> AsyncIterator[RoomKeys]:
    keys = RoomKeys()
    yield keys
    client = redis_client(redis_url, redis_timeout_s=TEST_TIMEOUT_S)
    try:
        await keys.delete(client)
    finally:
        await client.aclose()


class TrackedLiveState:
    """A RedisLiveStateCache that tells ``room_keys`` which rooms it wrote."""

    def __init__(self, inner: RedisLiveStateCache, keys: RoomKeys) -> None:
        self.inner = inner
        self._keys = keys

    async def room_created(self, room_id: RoomId, view: LiveRoomView) -> None:
        self._keys.track(room_id)
        await self.inner.room_created(room_id, view)

    async def read(self, room_id: RoomId) -> LiveRoomView | None:
        return await self.inner.read(room_id)

    async def apply(self, room_id: RoomId, update: LiveUpdate) -> None:
        self._keys.track(room_id)
        await self.inner.apply(room_id, update)


@pytest.fixture
async def live_state(redis_url: str, room_keys: RoomKeys) -> AsyncIterator[TrackedLiveState]:
    client = redis_client(redis_url, redis_timeout_s=TEST_TIMEOUT_S)
    try:
        yield TrackedLiveState(
            RedisLiveStateCache(client, redis_timeout_s=TEST_TIMEOUT_S), room_keys
        )
    finally:
        await client.aclose()


@pytest.fixture
async def room_events(redis_url: str) -> AsyncIterator[RedisRoomEvents]:
    # Channels are not keys: nothing is left behind once the bus is closed.
    events = RedisRoomEvents(redis_url, redis_timeout_s=TEST_TIMEOUT_S)
    await events.start()
    try:
        assert await events.wait_connected(10.0), "the event bus did not connect to Redis"
        yield events
    finally:
        await events.close()


@pytest.fixture
def fault_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with private_redis(tmp_path / "fault-redis") as server:
        yield server


PrivateEnv = Callable[..., dict[str, str]]


@pytest.fixture
def private_env(fault_redis: EmbeddedRedis, database_url: str, tmp_path: Path) -> PrivateEnv:
    """``server_env(**settings)`` for a server on the test's database and its own Redis
    (``fault_redis``, which the test may stop)."""

    def env(**settings: str) -> dict[str, str]:
        return server_env(database_url, fault_redis.url, tmp_path / "data", **settings)

    return env


@pytest.fixture(name="redis")
async def plain_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def presence_prefix(
    database_url: str, redis: aioredis.Redis, servers: Servers
) -> AsyncIterator[str]:
    prefix = f"presence-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    servers.stop_all()  # no beat after the clean-up
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    for row in await fetch(database_url, "SELECT room_id FROM rooms"):
        parts = ("meta", "seats", "presence", "closed")
        keys += [f"room:{row['room_id']}:{part}" for part in parts]
    if keys:
        await redis.delete(*keys)
