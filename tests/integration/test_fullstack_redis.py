"""Redis faults through the whole stack: a real ``rooms serve``, real clients, a private Redis.

The server's Redis is ``fault_redis`` (its own ``redis-server``, never the
machine's), reached directly or through a :class:`TcpProxy` that can cut a
MULTI/EXEC halfway. Whatever Redis does, every create is answered
``create_room_ok`` within the Redis budget; once Redis is back the cache is
written again and the live sockets hear their rooms' events, without a
restart. Latencies are printed; only generous guards are asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection

from harness.tcp_proxy import TcpProxy
from rooms_adapters.embedded.redis import EmbeddedRedis
from tests.integration.fullstack import (
    add_user,
    next_frame,
    publish_until_heard,
    start_server,
    timed_create,
    until,
)
from tests.integration.redis_support import admin_client
from tests.integration.server_probe import log_records, scrape
from tests.integration.server_process import Servers, server_env
from tests.integration.ws_support import client, free_port, token_for

pytestmark = pytest.mark.integration

REDIS_TIMEOUT_S = 0.5  # the default budget a create may spend on Redis
# Per create: the Redis budget plus PostgreSQL on a busy machine, many times
# over. A create that waited on a redis-py retry loop or a 5 s socket
# timeout would pass it; one that hung on a frozen Redis would not.
CREATE_GUARD_S = 10.0
CREATES_DURING_FAULT = 12


def env_for(database_url: str, redis_url: str, cwd: Path, **extra: str) -> dict[str, str]:
    return server_env(
        database_url,
        redis_url,
        cwd / "data",
        ROOMS_REDIS_TIMEOUT_S=str(REDIS_TIMEOUT_S),
        **extra,
    )


@pytest.fixture
async def fault_admin(fault_redis: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    """The test's own connection to the private Redis (reconnects after a restart)."""
    redis = admin_client(fault_redis.url)
    try:
        yield redis
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def others(url: str, user: uuid.UUID) -> AsyncIterator[list[ClientConnection]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(client(url, token_for(user))) for _ in range(4)]


async def create_ok(ws: ClientConnection) -> tuple[str, float]:
    """One create, answered ok within the guard: its room id and how long it took."""
    reply, took = await timed_create(ws)
    assert reply["type"] == "create_room_ok" and took < CREATE_GUARD_S, reply
    return reply["payload"]["room_id"], took


async def burst(sockets: list[ClientConnection], per_socket: int = 3) -> list[str]:
    """Creates on every socket at once; the room ids (each one answered ok)."""

    async def some(ws: ClientConnection) -> list[str]:
        return [(await create_ok(ws))[0] for _ in range(per_socket)]

    return [room for rooms in await asyncio.gather(*(some(ws) for ws in sockets)) for room in rooms]


async def cached(redis: aioredis.Redis, room_id: str) -> bool:
    return bool(await redis.exists(f"room:{room_id}:meta", f"room:{room_id}:seats") == 2)


async def test_redis_down_at_start_serves_logs_once_and_picks_redis_up(
    servers: Servers,
    database_url: str,
    fault_redis: EmbeddedRedis,
    fault_admin: aioredis.Redis,
    tmp_path: Path,
) -> None:
    fault_redis.stop()  # its port stays reserved for the restart below
    open_s = 3.0
    env = env_for(
        database_url,
        fault_redis.url,
        tmp_path,
        ROOMS_REDIS_BREAKER_OPEN_S=str(open_s),
        # The socket creates a room every few ms until the cache heals; it
        # must still follow the first one (beyond the cap it would be dropped).
        ROOMS_MAX_FOLLOWED_ROOMS="100000",
    )
    server = await start_server(servers, env)
    user = await add_user(database_url)
    async with client(server.url, token_for(user)) as ws:
        rooms = [(await create_ok(ws))[0] for _ in range(CREATES_DURING_FAULT)]
        print(f"\nRedis down: {len(rooms)} creates answered")

        records = log_records(server.log())
        adapter = [r for r in records if r["logger"] == "rooms_adapters.redis_live_state"]
        per_room = [r for r in records if r["logger"] == "rooms_domain.create_room"]
        outage = [r for r in records if r["logger"] == "rooms_adapters.redis_subscriber"]
        # The outage is told once per breaker interval and once per minute for
        # pub/sub, not once per request; each room gets one brief line.
        assert 1 <= len(adapter) < len(rooms) / 2, adapter
        assert adapter[0]["level"] == "warning"
        assert len(outage) == 1, outage
        assert sorted(r["room_id"] for r in per_room) == sorted(rooms)
        assert not any("traceback" in r for r in per_room + adapter + outage)

        fault_redis.restart()

        async def cache_written_again() -> bool:
            rooms.append((await create_ok(ws))[0])
            return await cached(fault_admin, rooms[-1])

        await until(cache_written_again, "a create to write the cache again")
        # Subscriptions asked for while Redis was away are live now.
        await publish_until_heard(fault_admin, f"room:{rooms[0]}:events", '{"n":1}')
        assert json.loads(await next_frame(ws)) == {"n": 1}
    assert server.process.poll() is None  # no restart was needed
    reachable = [r for r in log_records(server.log()) if "reachable again" in r["msg"]]
    assert len(reachable) == 1


@pytest.mark.parametrize("fault", ["killed", "frozen", "cut_mid_pipeline"])
async def test_redis_fault_while_serving_costs_no_create_and_heals_itself(
    servers: Servers,
    database_url: str,
    fault_redis: EmbeddedRedis,
    fault_admin: aioredis.Redis,
    tmp_path: Path,
    fault: str,
) -> None:
    proxy = TcpProxy("127.0.0.1", int(fault_redis.port or 0))
    await proxy.start()
    metrics_port = free_port()
    env = env_for(
        database_url,
        f"redis://127.0.0.1:{proxy.port}/0",
        tmp_path,
        ROOMS_REDIS_BREAKER_OPEN_S="0.5",
        ROOMS_METRICS_PORT=str(metrics_port),
    )
    try:
        server = await start_server(servers, env)
        user = await add_user(database_url)
        async with client(server.url, token_for(user)) as ws, others(server.url, user) as crowd:
            # Several creates at once: the server holds several Redis connections,
            # all of which the fault breaks.
            await burst(crowd)
            before, _ = await timed_create(ws)
            first_room = before["payload"]["room_id"]
            assert await cached(fault_admin, first_room)
            await publish_until_heard(fault_admin, f"room:{first_room}:events", "before")
            assert await next_frame(ws) == "before"

            if fault == "killed":
                fault_redis.kill()
            elif fault == "frozen":
                fault_redis.pause()
            else:
                proxy.cut_mid(b"MULTI")
            made = [await create_ok(ws) for _ in range(CREATES_DURING_FAULT)]
            during, took_s = [room for room, _ in made], [took for _, took in made]
            print(f"\n{fault}: creates took {[round(t, 3) for t in took_s]} s")
            if fault == "killed":
                fault_redis.restart()
            elif fault == "frozen":
                fault_redis.resume()
            else:
                assert proxy.trapped == 1
                # The pipeline reached Redis incomplete: nothing of it was applied.
                assert not await cached(fault_admin, during[0])

            async def cache_written_again() -> bool:
                return await cached(fault_admin, (await create_ok(ws))[0])

            await until(cache_written_again, "a create to write the cache again")
            # And it stays written: no connection broken by the fault is used again.
            for room_id in await burst(crowd):
                assert await cached(fault_admin, room_id), "a create after recovery missed"
            # The live socket hears the rooms it followed before and during the fault.
            for room_id in (first_room, during[-1]):
                await publish_until_heard(fault_admin, f"room:{room_id}:events", room_id)
                assert await next_frame(ws) == room_id

            samples = scrape(metrics_port)
        assert samples["rooms_redis_cache_failures_total"] >= 1
        assert samples["rooms_redis_breaker_opened_total"] >= 1
        assert samples['rooms_redis_breaker_state{state="closed"}'] == 1
        assert samples["rooms_live_state_misses_total"] >= 1
        assert samples["rooms_redis_events_connected"] == 1
        if fault != "frozen":  # a frozen connection may survive the thaw
            assert samples["rooms_redis_events_reconnects_total"] >= 1
        assert server.process.poll() is None
    finally:
        await proxy.close()
