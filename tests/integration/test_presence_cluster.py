"""Presence and held seats on real servers (two instances, one PostgreSQL, one Redis),
with short settings: a page refresh keeps the seat; the SIGKILL of the instance holding
a player's only socket is heard on the other instance as player_disconnected, then
player_left reason timeout after the hold, once, however many release steps run."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_adapters.postgres import PoolSettings, PostgresUnitOfWorkFactory, create_pool
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_live_state import RedisLiveStateCache
from rooms_adapters.redis_presence import RedisPresence
from rooms_domain import SystemClock
from rooms_domain.use_cases.release_seats import Released, ReleaseExpiredSeats
from tests.integration.fullstack import add_user
from tests.integration.lobby_support import Player, host_and_guest
from tests.integration.server_process import ServerProcess, Servers, fetch, server_env
from tests.integration.ws_support import client, token_for

pytestmark = pytest.mark.integration

HOLD_S = 2
PRESENCE_TIMEOUT_S = 2


@contextlib.asynccontextmanager
async def release_step(database_url: str, redis_url: str, prefix: str) -> AsyncIterator[Any]:
    """The housekeeping round's held-seat step, as an instance would run it."""
    settings = PoolSettings(max_size=4)
    pool = await create_pool(database_url, settings)
    client_ = redis_client(redis_url, redis_timeout_s=2.0)
    try:
        yield ReleaseExpiredSeats(
            uow_factory=PostgresUnitOfWorkFactory(pool, settings),
            live_state=RedisLiveStateCache(client_, redis_timeout_s=2.0),
            presence=RedisPresence(
                client_, timeout_s=PRESENCE_TIMEOUT_S, redis_timeout_s=2.0, prefix=prefix
            ),
            clock=SystemClock(),
            hold_s=HOLD_S,
            live_state_timeout_s=2.0,
        )
    finally:
        await pool.close()
        await client_.aclose()


def env_for(database_url: str, redis_url: str, data: Path, prefix: str) -> dict[str, str]:
    return server_env(
        database_url,
        redis_url,
        data,
        ROOMS_SEAT_HOLD_SECONDS=str(HOLD_S),
        ROOMS_PRESENCE_TIMEOUT_SECONDS=str(PRESENCE_TIMEOUT_S),
        ROOMS_PRESENCE_KEY_PREFIX=prefix,
    )


@dataclasses.dataclass
class HostedRoom:
    """Two instances; Ann on the first, host of a new room; Bob not connected yet; the
    round's release step, as an instance would run it."""

    first: ServerProcess
    second: ServerProcess
    bob: uuid.UUID
    host: Player
    release: ReleaseExpiredSeats
    room_id: str
    code: str


@pytest.fixture
async def hosted(
    servers: Servers, database_url: str, redis_url: str, tmp_path: Path, presence_prefix: str
) -> AsyncIterator[HostedRoom]:
    env = env_for(database_url, redis_url, tmp_path / "data", presence_prefix)
    first, second = servers.start(env), servers.start(env)
    ann, bob = await add_user(database_url, "Ann"), await add_user(database_url, "Bob")
    async with (
        client(first.url, token_for(ann)) as ws_ann,
        release_step(database_url, redis_url, presence_prefix) as release,
    ):
        host = Player(ws_ann)
        room_id, code = await host.create_room()
        yield HostedRoom(first, second, bob, host, release, room_id, code)


async def second_seat_holder(database_url: str, room_id: str) -> Any:
    rows = await fetch(
        database_url,
        "SELECT user_id FROM room_seats WHERE room_id = $1 AND seat_index = 1",
        uuid.UUID(room_id),
    )
    return rows[0]["user_id"]


async def test_a_page_refresh_on_another_instance_keeps_the_seat(
    hosted: HostedRoom, database_url: str
) -> None:
    first, second, bob = hosted.first, hosted.second, hosted.bob
    host, release, room_id, code = hosted.host, hosted.release, hosted.room_id, hosted.code
    async with client(second.url, token_for(bob)) as ws_bob:
        joined = await Player(ws_bob).ask("join_room", code=code)
        assert joined["payload"]["seat_index"] == 1
    await host.expect("player_disconnected")
    # Refreshed, and landed on the other instance: within the hold.
    async with client(first.url, token_for(bob)) as ws_bob:
        room = await Player(ws_bob).ask("get_room", room_id=room_id)
        seats = room["payload"]["room"]["seats"]
        assert seats[1]["user_id"] == str(bob) and seats[1]["connected"] is True
        await host.expect("player_reconnected")
        await asyncio.sleep(HOLD_S + 0.5)
        assert await release() == []
        heard = await host.quiet(1.0)
        assert "player_left" not in [e["type"] for e in [*host.events, *heard]]
        assert await second_seat_holder(database_url, room_id) == bob


async def test_a_killed_instances_player_is_disconnected_then_released_once(
    hosted: HostedRoom, database_url: str
) -> None:
    second, bob = hosted.second, hosted.bob
    host, release, room_id, code = hosted.host, hosted.release, hosted.room_id, hosted.code
    bob_socket = contextlib.AsyncExitStack()
    ws_bob = await bob_socket.enter_async_context(client(second.url, token_for(bob)))
    await Player(ws_bob).ask("join_room", code=code)
    await host.expect("player_joined")

    os.kill(second.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    with contextlib.suppress(Exception):
        await bob_socket.aclose()
    (gone,) = await host.expect("player_disconnected", within_s=PRESENCE_TIMEOUT_S + 10)
    heard_after_s = time.monotonic() - killed_at
    assert gone["payload"]["user_id"] == str(bob) and gone["payload"]["seat_index"] == 1

    # The round's step, on several tasks at once, until the hold is over.
    released: list[Released] = []
    deadline = time.monotonic() + HOLD_S + 15
    while not released and time.monotonic() < deadline:
        results = await asyncio.gather(*(release() for _ in range(4)))
        released = [one for result in results for one in result]
        await asyncio.sleep(0.2)
    assert [(str(r.user_id), r.seat_index) for r in released] == [(str(bob), 1)]
    (left,) = await host.expect("player_left")
    assert left["payload"]["reason"] == "timeout" and left["payload"]["version"] == 2
    # Never twice.
    assert await release() == []
    heard = await host.quiet(1.0)
    assert [e["type"] for e in heard] == []
    assert await second_seat_holder(database_url, room_id) is None
    print(f"player_disconnected heard {heard_after_s:.1f} s after the SIGKILL")


async def test_while_redis_is_down_the_snapshot_shows_only_the_requester_connected(
    servers: Servers, database_url: str, fault_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    env = server_env(database_url, fault_redis.url, tmp_path / "data")
    server = servers.start(env)
    ann, bob = await add_user(database_url, "Ann"), await add_user(database_url, "Bob")
    async with host_and_guest(server.url, ann, bob) as (host, guest, room_id):
        room = await host.ask("get_room", room_id=room_id)
        assert [s["connected"] for s in room["payload"]["room"]["seats"]][:2] == [True, True]
        fault_redis.stop()
        room = await guest.ask("get_room", room_id=room_id)
        assert room["type"] == "room"
        assert [s["connected"] for s in room["payload"]["room"]["seats"]][:2] == [False, True]
