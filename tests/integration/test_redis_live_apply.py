"""The live-view step on a private Redis: killed, frozen, restarted, and what it leaves behind.

The step's semantics are the contract suite's (``tests/contracts/live_state.py``,
run against memory and Redis); here is what only a real server shows. Bounds
are failure guards, never timings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_live_apply import TOMBSTONE_TTL_S, closed_key
from rooms_adapters.redis_live_state import RedisLiveStateCache, meta_key, seats_key
from rooms_domain import LiveStateFailure
from tests.contracts.live_state import T1, T2, Lobby
from tests.integration.redis_support import admin_client
from tests.integration.test_redis_live_state import command_calls

pytestmark = pytest.mark.integration

# The cache's own bound is 0.25 s; this only tells "bounded" from "hangs" on a busy box.
BOUND_S = 5.0
GUARD_S = 30.0


@pytest.fixture
async def cache(fault_redis: EmbeddedRedis) -> AsyncIterator[RedisLiveStateCache]:
    # The production defaults: short socket timeouts, one attempt, 0.25 s per call.
    client = redis_client(fault_redis.url)
    try:
        yield RedisLiveStateCache(client)
    finally:
        await client.aclose()


async def bounded_apply(cache: RedisLiveStateCache, lobby: Lobby) -> float:
    """Apply a join; how long the call took."""
    _, joined = lobby.join("Bob", T1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(GUARD_S):
        with pytest.raises(LiveStateFailure):
            await cache.apply(lobby.room_id, joined)
    return loop.time() - started


async def test_with_redis_killed_an_update_fails_within_its_bound(
    cache: RedisLiveStateCache, fault_redis: EmbeddedRedis
) -> None:
    fault_redis.kill()
    assert await bounded_apply(cache, Lobby()) < BOUND_S


async def test_with_redis_frozen_an_update_fails_within_its_bound(
    cache: RedisLiveStateCache, fault_redis: EmbeddedRedis
) -> None:
    fault_redis.pause()
    try:
        assert await bounded_apply(cache, Lobby()) < BOUND_S
    finally:
        fault_redis.resume()


async def test_after_a_restart_the_script_is_loaded_again(
    cache: RedisLiveStateCache, fault_redis: EmbeddedRedis
) -> None:
    lobby = Lobby()
    bob, joined = lobby.join("Bob", T1)
    await cache.apply(lobby.room_id, joined)
    admin = admin_client(fault_redis.url)
    try:
        # What a restart does to the script cache, without waiting for one.
        await admin.script_flush()
        readied = lobby.ready(bob, T2)
        await cache.apply(lobby.room_id, readied)
        assert await cache.read(lobby.room_id) == readied.view.written_over(joined.view)
    finally:
        await admin.aclose()


async def test_an_update_is_one_script_call(
    cache: RedisLiveStateCache, fault_redis: EmbeddedRedis
) -> None:
    lobby = Lobby()
    bob, joined = lobby.join("Bob", T1)
    await cache.apply(lobby.room_id, joined)  # loads the script into the fresh server
    admin = admin_client(fault_redis.url)
    try:
        await admin.config_resetstat()
        await cache.apply(lobby.room_id, lobby.ready(bob, T2))
        calls = await command_calls(fault_redis.url)
    finally:
        await admin.aclose()
    # Its HGET/HSET/PUBLISH run inside the script; the connection's own
    # commands (a handshake, the statistics reading) are not the step's.
    assert calls.get("evalsha") == 1
    assert "eval" not in calls and "multi" not in calls and "script|load" not in calls


async def test_closing_leaves_a_tombstone_that_expires(
    cache: RedisLiveStateCache, fault_redis: EmbeddedRedis
) -> None:
    lobby = Lobby()
    await cache.room_created(lobby.room_id, lobby.created())
    closing = lobby.leave(lobby.host, T1)
    await cache.apply(lobby.room_id, closing)
    admin = admin_client(fault_redis.url)
    try:
        assert await admin.exists(meta_key(lobby.room_id), seats_key(lobby.room_id)) == 0
        # The closing version and the closing time (Redis's clock, in ms).
        version, at_ms = (await admin.get(closed_key(lobby.room_id))).split(b":")
        redis_now_s, _ = await admin.time()
        assert version == b"1"
        assert abs(int(at_ms) - redis_now_s * 1000) < 60_000
        assert 0 < await admin.ttl(closed_key(lobby.room_id)) <= TOMBSTONE_TTL_S
    finally:
        await admin.aclose()
