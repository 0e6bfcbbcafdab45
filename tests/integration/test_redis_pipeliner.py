"""Auto-pipelining on a real Redis: fewer writes, replies in order, faults fail each caller.

Between the client and Redis sits the loopback TCP proxy, which the tests
freeze (bytes held, sockets open) and cut. Bounds are failure guards only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from harness.tcp_proxy import TcpProxy
from rooms_adapters.circuit_breaker import CircuitBreaker
from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_adapters.redis_client import PipelinedRedis, packed_command, redis_client
from rooms_adapters.redis_errors import LiveStateUnavailable
from rooms_adapters.redis_live_state import RedisLiveStateCache
from rooms_adapters.redis_pipeliner import RedisPipeliner
from tests.contracts.live_state import a_view
from tests.integration.redis_support import ManualClock

pytestmark = pytest.mark.integration

GUARD_S = 10.0  # only so a hang fails the test instead of stalling the run
CALLERS = 64


@pytest.fixture
async def proxy(fault_redis: EmbeddedRedis) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", int(fault_redis.port or 0))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture
async def client(proxy: TcpProxy) -> AsyncIterator[PipelinedRedis]:
    # A long bound: only what a test does ends a call, never the clock.
    client = redis_client(f"redis://127.0.0.1:{proxy.port}/0", redis_timeout_s=GUARD_S)
    try:
        yield client
    finally:
        await client.aclose()


def echo(text: str) -> bytes:
    return packed_command(b"ECHO", text)


async def held_calls(
    pipeliner: RedisPipeliner, proxy: TcpProxy, texts: list[str]
) -> list[asyncio.Task[object]]:
    """An ECHO per text, written while the proxy holds every byte: none is answered yet."""
    await pipeliner.call(echo("warm up"))  # connected
    proxy.freeze()
    calls = [asyncio.create_task(pipeliner.call(echo(text))) for text in texts]
    await asyncio.sleep(0.05)  # let them be written to the proxy
    return calls


async def test_concurrent_writes_share_socket_writes_and_each_reads_its_own_room(
    client: PipelinedRedis,
) -> None:
    cache = RedisLiveStateCache(client, redis_timeout_s=GUARD_S)
    views = [a_view() for _ in range(CALLERS)]
    async with asyncio.timeout(GUARD_S):
        await asyncio.gather(*(cache.room_created(*view) for view in views))
        stats = client.pipeliner.stats
        # All callers were ready in one loop turn: their MULTI/EXECs went out
        # together (the handshake, if any, is one write more).
        assert stats.commands >= CALLERS
        assert stats.writes <= 2
        read = await asyncio.gather(*(cache.read(room_id) for room_id, _ in views))
    assert read == [view for _, view in views]


async def test_concurrent_applies_and_publishes_are_pipelined_too(
    client: PipelinedRedis,
) -> None:
    pipeliner = client.pipeliner
    async with asyncio.timeout(GUARD_S):
        await pipeliner.call(echo("warm up"))  # connected, handshake done
        writes = pipeliner.stats.writes
        replies = await asyncio.gather(*(pipeliner.call(echo(f"n{i}")) for i in range(CALLERS)))
    assert replies == [f"n{i}".encode() for i in range(CALLERS)]
    assert pipeliner.stats.writes == writes + 1


async def test_a_caller_that_gives_up_does_not_shift_the_others_replies(
    client: PipelinedRedis, proxy: TcpProxy
) -> None:
    pipeliner = client.pipeliner
    async with asyncio.timeout(GUARD_S):
        first, gone, last = await held_calls(pipeliner, proxy, ["first", "gone", "last"])
        gone.cancel()  # its bound expired, say: its reply is still on its way
        proxy.thaw()
        assert await first == b"first"
        assert await last == b"last"
        assert await pipeliner.call(echo("after")) == b"after"
    assert gone.cancelled()


async def test_an_error_reply_is_its_callers_only(client: PipelinedRedis) -> None:
    pipeliner = client.pipeliner
    async with asyncio.timeout(GUARD_S):
        replies = await asyncio.gather(
            pipeliner.call(echo("a")),
            pipeliner.call(packed_command(b"NO-SUCH-COMMAND")),
            pipeliner.call(echo("c")),
            return_exceptions=True,
        )
    assert replies[0] == b"a"
    assert isinstance(replies[1], ResponseError)
    assert replies[2] == b"c"


async def test_a_connection_cut_mid_pipeline_fails_every_waiting_caller_then_heals(
    client: PipelinedRedis, proxy: TcpProxy
) -> None:
    pipeliner = client.pipeliner
    async with asyncio.timeout(GUARD_S):
        calls = await held_calls(pipeliner, proxy, [f"n{i}" for i in range(CALLERS)])
        proxy.abort_all()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        proxy.thaw()
        assert all(isinstance(o, RedisConnectionError) for o in outcomes), outcomes
        # The next call connects again, and its reply is its own.
        assert await pipeliner.call(echo("again")) == b"again"
    assert pipeliner.stats.connects == 2


async def test_a_cut_in_the_middle_of_a_transaction_fails_each_cache_write_cleanly(
    client: PipelinedRedis, proxy: TcpProxy
) -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(open_for_s=5.0, clock=clock)
    cache = RedisLiveStateCache(client, redis_timeout_s=GUARD_S, breaker=breaker)
    async with asyncio.timeout(GUARD_S):
        await cache.room_created(*a_view())
        proxy.cut_mid(b"MULTI")  # half of the next write reaches Redis, then a reset
        outcomes = await asyncio.gather(
            *(cache.room_created(*a_view()) for _ in range(CALLERS)), return_exceptions=True
        )
        assert all(isinstance(o, LiveStateUnavailable) for o in outcomes), outcomes
        assert all(isinstance(o.__cause__, RedisError) for o in outcomes)  # type: ignore[union-attr]
        assert breaker.opened == 1
        clock.now += 5.0
        room_id, view = a_view()
        await cache.room_created(room_id, view)  # the trial, on a new connection
        assert await cache.read(room_id) == view


async def test_a_caller_giving_up_on_a_silent_connection_drops_it(
    fault_redis: EmbeddedRedis, proxy: TcpProxy
) -> None:
    # The production bound: a stall of half of it means the path hangs.
    client = redis_client(f"redis://127.0.0.1:{proxy.port}/0", redis_timeout_s=0.25)
    pipeliner = client.pipeliner
    try:
        async with asyncio.timeout(GUARD_S):
            await pipeliner.call(echo("warm up"))
            proxy.freeze()
            waiting = asyncio.create_task(pipeliner.call(echo("waiting")))
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.25):
                    await pipeliner.call(echo("gives up"))
            # The other caller fails now, not when the path comes back.
            with pytest.raises(RedisConnectionError, match="silent"):
                await waiting
            proxy.thaw()
            assert await pipeliner.call(echo("again")) == b"again"
        assert pipeliner.stats.connects == 2
    finally:
        await client.aclose()
