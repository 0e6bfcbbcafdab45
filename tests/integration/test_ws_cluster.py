"""Several server processes on one PostgreSQL and one Redis: scale-out and restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.integration.fullstack import add_user
from tests.integration.server_process import (
    ServerProcess,
    Servers,
    fetch,
    server_env,
    wait_closed,
)
from tests.integration.ws_support import ask, client, close_code, create_room, receive, token_for


@pytest.fixture
async def cleanup_rooms(database_url: str, redis: aioredis.Redis) -> AsyncIterator[None]:
    yield
    for row in await fetch(database_url, "SELECT room_id FROM rooms"):
        await redis.delete(f"room:{row['room_id']}:meta", f"room:{row['room_id']}:seats")


@pytest.fixture
def two_servers(
    cleanup_rooms: None, servers: Servers, database_url: str, redis_url: str, tmp_path: Path
) -> tuple[ServerProcess, ServerProcess]:
    """Two instances on the same PostgreSQL and Redis, their rooms' keys cleaned up after."""
    env = server_env(database_url, redis_url, tmp_path / "data")
    return servers.start(env), servers.start(env)


@contextlib.asynccontextmanager
async def sockets(urls: list[str], token: str) -> AsyncIterator[list[Any]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(client(url, token)) for url in urls]


async def test_16_concurrent_duplicates_on_two_servers_make_one_room(
    two_servers: tuple[ServerProcess, ServerProcess], database_url: str
) -> None:
    first, second = two_servers
    user = await add_user(database_url)
    request = json.dumps(create_room(max_players=2))
    async with sockets([first.url] * 8 + [second.url] * 8, token_for(user)) as all_sockets:
        await asyncio.gather(*(ws.send(request) for ws in all_sockets))
        replies = await asyncio.gather(*(receive(ws) for ws in all_sockets))
        outcomes = {r["type"] if r["type"] != "error" else r["payload"]["code"] for r in replies}
        assert outcomes <= {"create_room_ok", "request_in_progress"}
        # Whoever was told to retry gets the very same answer on retry.
        for ws, reply in zip(all_sockets, replies, strict=True):
            if reply["type"] == "error":
                for _ in range(50):
                    reply = await ask(ws, request)
                    if reply["type"] == "create_room_ok":
                        break
                    await asyncio.sleep(0.1)
            assert reply["type"] == "create_room_ok"
            assert reply == replies[0] if replies[0]["type"] == "create_room_ok" else True
    oks = {json.dumps(r, sort_keys=True) for r in replies if r["type"] == "create_room_ok"}
    assert len(oks) == 1
    assert len(await fetch(database_url, "SELECT 1 FROM rooms WHERE owner_user_id = $1", user)) == 1
    keys = await fetch(database_url, "SELECT status FROM ws_idempotency WHERE user_id = $1", user)
    assert [k["status"] for k in keys] == ["completed"]


async def test_two_instances_share_rooms_replays_and_events(
    two_servers: tuple[ServerProcess, ServerProcess], database_url: str, redis_url: str
) -> None:
    first, second = two_servers
    ann, bob = await add_user(database_url, "Ann"), await add_user(database_url, "Bob")
    request = create_room()
    async with client(first.url, token_for(ann)) as on_first:
        created = await ask(on_first, request)
        room_id = created["payload"]["room_id"]
        # The client lost its reply and retries on the other instance: a replay.
        async with client(second.url, token_for(ann)) as on_second:
            assert await ask(on_second, request) == created
            async with client(second.url, token_for(bob)) as bobs:
                assert (await ask(bobs, create_room()))["type"] == "create_room_ok"
            # Both of Ann's sockets now follow the room, whichever instance holds them.
            publisher = aioredis.from_url(redis_url)
            try:
                for _ in range(100):
                    if await publisher.publish(f"room:{room_id}:events", "ping") >= 2:
                        break
                    await asyncio.sleep(0.05)
            finally:
                await publisher.aclose()
            assert await asyncio.wait_for(on_first.recv(), 10) == "ping"
            assert await asyncio.wait_for(on_second.recv(), 10) == "ping"


async def test_redis_down_still_creates_rooms(
    servers: Servers, database_url: str, tmp_path: Path
) -> None:
    from tests.integration.ws_support import free_port

    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    server = servers.start(server_env(database_url, dead_redis, tmp_path / "data"))
    user = await add_user(database_url)
    async with client(server.url, token_for(user)) as ws:
        reply = await ask(ws, create_room())
    assert reply["type"] == "create_room_ok"
    rows = await fetch(database_url, "SELECT 1 FROM rooms WHERE owner_user_id = $1", user)
    assert len(rows) == 1
    assert reply["payload"]["room_id"] in server.log()  # the cache failure is logged with it


@pytest.mark.usefixtures("cleanup_rooms")
async def test_sigterm_closes_sockets_with_1012_and_exits_0(
    servers: Servers, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    server = servers.start(server_env(database_url, redis_url, tmp_path / "data"))
    user = await add_user(database_url)
    async with (
        client(server.url, token_for(user)) as busy,
        client(server.url, token_for(user)) as idle,
    ):
        assert (await ask(busy, create_room()))["type"] == "create_room_ok"
        await busy.send(json.dumps(create_room()))  # in flight when the signal lands
        server.process.send_signal(signal.SIGTERM)
        reply = await receive(busy)
        assert reply["type"] == "create_room_ok"
        assert await close_code(busy) == 1012
        assert await close_code(idle) == 1012
    assert await wait_closed(server) == 0
    rows = await fetch(database_url, "SELECT 1 FROM rooms WHERE owner_user_id = $1", user)
    assert len(rows) == 2
    keys = await fetch(database_url, "SELECT status FROM ws_idempotency WHERE user_id = $1", user)
    assert {k["status"] for k in keys} == {"completed"}


@pytest.mark.usefixtures("cleanup_rooms")
async def test_two_workers_share_the_port_and_stop_together(
    servers: Servers, database_url: str, redis_url: str, tmp_path: Path, redis: aioredis.Redis
) -> None:
    # The Redis may be shared with other servers (other tests, other runs):
    # only the subscriber connections that appear with this server count.
    before = {c["id"] for c in await redis.client_list(_type="pubsub")}
    server = servers.start(server_env(database_url, redis_url, tmp_path / "data"), "--workers", "2")
    users = [await add_user(database_url, f"P{i}") for i in range(8)]
    async with contextlib.AsyncExitStack() as stack:
        connections = [
            await stack.enter_async_context(client(server.url, token_for(u))) for u in users
        ]
        rooms = [(await ask(ws, create_room()))["payload"]["room_id"] for ws in connections]
        assert len(set(rooms)) == 8
        # Each worker holds its own single subscriber connection to Redis.
        for _ in range(100):
            counts = await redis.pubsub_numsub(*(f"room:{r}:events" for r in rooms))
            if all(n == 1 for _, n in counts):
                break
            await asyncio.sleep(0.05)
        subscribers = {
            c["id"]
            for c in await redis.client_list(_type="pubsub")
            if c.get("name") == "rooms-events"
            and int(c.get("sub", 0)) > 0
            and c["id"] not in before
        }
        assert 1 <= len(subscribers) <= 2
        server.process.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(close_code(ws) for ws in connections))
        assert set(codes) == {1012}
    assert await wait_closed(server) == 0


async def test_metrics_listen_apart_and_the_public_port_serves_only_ws(
    servers: Servers, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    import urllib.error
    import urllib.request

    from tests.integration.ws_support import free_port

    metrics_port = free_port()
    env = server_env(
        database_url, redis_url, tmp_path / "data", ROOMS_METRICS_PORT=str(metrics_port)
    )
    server = servers.start(env)
    user = await add_user(database_url)
    async with client(server.url, token_for(user)) as ws:
        assert (await ask(ws, {"type": "hello", "request_id": str(uuid.uuid4())}))[
            "type"
        ] == "error"

        def get(url: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, ""

        status, text = await asyncio.to_thread(get, f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        assert "rooms_open_connections 1.0" in text
        assert 'rooms_requests_total{outcome="unknown_type",type="other"} 1.0' in text
        for path in ("/", "/metrics", "/docs", "/openapi.json", "/ws"):
            status, _ = await asyncio.to_thread(get, f"http://127.0.0.1:{server.port}{path}")
            assert status in (400, 403, 404, 426), path


async def test_the_process_cap_refuses_with_503(
    servers: Servers, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    from tests.integration.ws_support import refusal_status

    env = server_env(database_url, redis_url, tmp_path / "data", ROOMS_MAX_CONNECTIONS="2")
    server = servers.start(env)
    ann, bob = await add_user(database_url, "Ann"), await add_user(database_url, "Bob")
    async with client(server.url, token_for(ann)), client(server.url, token_for(bob)):
        assert await refusal_status(server.url, token_for(ann)) == 503
    assert len(await fetch(database_url, "SELECT 1 FROM ws_idempotency")) == 0
