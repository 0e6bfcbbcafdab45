"""The live-state cache when its Redis is killed, frozen or restarted.

Each test owns a private ``redis-server`` (``fault_redis``) and a breaker on a
clock it moves by hand. Bounds here are failure guards, never timings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from rooms_adapters.circuit_breaker import BreakerState, CircuitBreaker
from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_errors import LiveStateSkipped, LiveStateUnavailable
from rooms_adapters.redis_live_state import RedisLiveStateCache
from tests.contracts.live_state import a_view
from tests.contracts.support import eventually
from tests.integration.redis_support import ManualClock, create_room_with
from tests.unit.harness import command

pytestmark = pytest.mark.integration

OPEN_FOR_S = 5.0
GUARD_S = 10.0  # only so a hang fails the test instead of stalling the run


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def cache(
    fault_redis: EmbeddedRedis, clock: ManualClock
) -> AsyncIterator[RedisLiveStateCache]:
    # The production bounds: short socket timeouts, one attempt, 0.25 s per call.
    client = redis_client(fault_redis.url)
    try:
        yield RedisLiveStateCache(
            client,
            redis_timeout_s=0.25,
            breaker=CircuitBreaker(open_for_s=OPEN_FOR_S, clock=clock),
        )
    finally:
        await client.aclose()


def state_of(cache: RedisLiveStateCache) -> BreakerState:
    # A call, not an attribute: mypy would keep the state narrowed across awaits.
    return cache.breaker.state


async def write_new_room(cache: RedisLiveStateCache) -> None:
    async with asyncio.timeout(GUARD_S):
        await cache.room_created(*a_view())


@pytest.fixture
async def warm_cache(cache: RedisLiveStateCache) -> RedisLiveStateCache:
    """The adapter after one write went through: it holds a pooled connection."""
    await write_new_room(cache)
    return cache


async def the_trial_write_goes_through(cache: RedisLiveStateCache) -> None:
    """The wait is over: a write is tried, closes the breaker, and reads back."""
    room_id, view = a_view()
    async with asyncio.timeout(GUARD_S):
        await cache.room_created(room_id, view)
        assert state_of(cache) is BreakerState.CLOSED
        assert await cache.read(room_id) == view


async def test_with_redis_killed_a_write_fails_and_opens_the_breaker(
    warm_cache: RedisLiveStateCache, fault_redis: EmbeddedRedis
) -> None:
    cache = warm_cache
    fault_redis.kill()  # the pooled connection's server dies
    with pytest.raises(LiveStateUnavailable) as failure:
        await write_new_room(cache)
    assert failure.value.__cause__ is not None
    assert cache.breaker.state is BreakerState.OPEN
    assert cache.breaker.failures == 1


async def kill_under(fault_redis: EmbeddedRedis, cache: RedisLiveStateCache) -> None:
    """Kills the cache's Redis, and sees the next write fail."""
    fault_redis.kill()
    with pytest.raises(LiveStateUnavailable):
        await write_new_room(cache)


async def test_while_open_calls_are_skipped_even_when_redis_is_back(
    cache: RedisLiveStateCache, fault_redis: EmbeddedRedis, clock: ManualClock
) -> None:
    await kill_under(fault_redis, cache)
    fault_redis.restart()
    clock.now += OPEN_FOR_S - 0.1
    for _ in range(3):
        with pytest.raises(LiveStateSkipped, match="circuit open") as skipped:
            await write_new_room(cache)
        assert skipped.value.__cause__ is None  # refused without touching Redis
    assert cache.breaker.rejected == 3


async def test_after_a_restart_the_trial_write_succeeds_with_the_same_adapter(
    warm_cache: RedisLiveStateCache, fault_redis: EmbeddedRedis, clock: ManualClock
) -> None:
    await kill_under(fault_redis, warm_cache)
    fault_redis.restart()
    clock.now += OPEN_FOR_S
    await the_trial_write_goes_through(warm_cache)


async def test_a_failed_trial_opens_the_breaker_again(
    cache: RedisLiveStateCache, fault_redis: EmbeddedRedis, clock: ManualClock
) -> None:
    await kill_under(fault_redis, cache)
    clock.now += OPEN_FOR_S
    with pytest.raises(LiveStateUnavailable) as trial:
        await write_new_room(cache)
    assert trial.value.__cause__ is not None  # the trial did reach for Redis
    assert cache.breaker.state is BreakerState.OPEN
    assert cache.breaker.opened == 2


async def test_with_redis_frozen_a_write_fails_within_its_bound_then_recovers(
    warm_cache: RedisLiveStateCache, fault_redis: EmbeddedRedis, clock: ManualClock
) -> None:
    fault_redis.pause()
    try:
        with pytest.raises(LiveStateUnavailable, match="did not answer"):
            await write_new_room(warm_cache)
    finally:
        fault_redis.resume()
    assert warm_cache.breaker.state is BreakerState.OPEN
    clock.now += OPEN_FOR_S
    await the_trial_write_goes_through(warm_cache)


async def test_a_caller_that_goes_away_neither_opens_the_breaker_nor_wedges_a_trial(
    fault_redis: EmbeddedRedis, clock: ManualClock
) -> None:
    # A long bound, so that only the test's cancellation ends the calls.
    client = redis_client(fault_redis.url, redis_timeout_s=30.0)
    breaker = CircuitBreaker(open_for_s=OPEN_FOR_S, clock=clock)
    cache = RedisLiveStateCache(client, redis_timeout_s=30.0, breaker=breaker)
    try:
        fault_redis.pause()
        abandoned = asyncio.create_task(cache.room_created(*a_view()))
        await asyncio.sleep(0.05)
        abandoned.cancel()
        with pytest.raises(asyncio.CancelledError):
            await abandoned
        assert breaker.state is BreakerState.CLOSED

        breaker.record_failure()  # as if an earlier call had failed
        clock.now += OPEN_FOR_S
        trial = asyncio.create_task(cache.room_created(*a_view()))
        await eventually(lambda: state_of(cache) is BreakerState.HALF_OPEN)
        await asyncio.sleep(0.05)  # let it reach the frozen server
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial
        fault_redis.resume()
        room_id, view = a_view()
        async with asyncio.timeout(GUARD_S):
            await cache.room_created(room_id, view)  # admitted as the next trial
            assert await cache.read(room_id) == view
        assert state_of(cache) is BreakerState.CLOSED
    finally:
        fault_redis.resume()
        await client.aclose()


async def test_a_caller_bound_equal_to_the_cache_bound_still_opens_the_breaker(
    cache: RedisLiveStateCache, fault_redis: EmbeddedRedis
) -> None:
    # The caller's bound is entered first, so it usually expires first: the
    # cache then sees a cancellation, not its own timeout (if both expire in
    # one loop turn, its own may win), and must count a slow Redis either way.
    await write_new_room(cache)
    fault_redis.pause()
    try:
        with pytest.raises((TimeoutError, LiveStateUnavailable)):
            async with asyncio.timeout(0.25):
                await cache.room_created(*a_view())
    finally:
        fault_redis.resume()
    assert cache.breaker.state is BreakerState.OPEN


async def test_a_read_with_redis_down_is_an_adapter_error_too(
    cache: RedisLiveStateCache, fault_redis: EmbeddedRedis
) -> None:
    fault_redis.kill()
    with pytest.raises(LiveStateUnavailable):
        async with asyncio.timeout(GUARD_S):
            await cache.read(a_view()[0])


# -- the use case over a sick Redis ---------------------------------------------


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
async def test_create_room_answers_and_logs_the_room_when_redis_is_sick(
    cache: RedisLiveStateCache,
    fault_redis: EmbeddedRedis,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    create, host = create_room_with(cache)
    if fault == "stopped":
        fault_redis.stop()
    else:
        fault_redis.pause()
    try:
        with caplog.at_level(logging.WARNING, logger="rooms_domain"):
            async with asyncio.timeout(GUARD_S):
                result = await create(command(host))
    finally:
        if fault == "frozen":
            fault_redis.resume()
    logged = [r for r in caplog.records if r.name.startswith("rooms_domain")]
    assert any(str(result.room_id) in r.getMessage() for r in logged)
    assert any(getattr(r, "room_id", None) == str(result.room_id) for r in logged)

    # Redis back: the next create writes the cache again, same adapter, no restart.
    if fault == "stopped":
        fault_redis.restart()
    clock.now += OPEN_FOR_S
    async with asyncio.timeout(GUARD_S):
        again = await create(command(host))
        view = await cache.read(again.room_id)
    assert view is not None
    assert view.meta["code"] == str(again.code)
