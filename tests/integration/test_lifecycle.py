"""A room's whole lifecycle (lobby.md §4-5), black-box, on two real ``rooms serve``.

Nothing but the servers acts: the releases, the closing and the deletion of
the closed room are their sweep loops' (every ``ROOMS_SWEEP_INTERVAL_SECONDS``),
never a ``rooms sweep`` run by the test. Short settings (1-2 s) keep it to
seconds; every wait polls with a generous bound and no duration is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from rooms_client import (
    HostChanged,
    PlayerDisconnected,
    PlayerJoined,
    PlayerLeft,
    PlayerReconnected,
    RoomClosed,
)
from rooms_client.events import parse_event
from rooms_client.protocol import RoomEvent
from rooms_domain import RoomId
from tests.integration.fullstack import Serve, add_user, until
from tests.integration.lobby_clients import Socket
from tests.integration.redis_fixtures import RoomKeys
from tests.integration.server_process import ServerProcess, fetch

pytestmark = pytest.mark.integration

HOLD_S = 2
SWEEP_S = 1
SHORT = {
    "ROOMS_SEAT_HOLD_SECONDS": str(HOLD_S),
    "ROOMS_PRESENCE_TIMEOUT_SECONDS": "2",
    "ROOMS_SWEEP_INTERVAL_SECONDS": str(SWEEP_S),
    "ROOMS_PING_INTERVAL_SECONDS": "1",
    "ROOMS_CLOSED_ROOM_RETENTION_SECONDS": "1",
}
# A second release of the same seat, if there were one, would come within a round or two.
AFTER_A_RELEASE_S = 3 * SWEEP_S


@pytest.fixture
async def instances(serve: Serve, presence_prefix: str) -> tuple[ServerProcess, ServerProcess]:
    first, second = await asyncio.gather(
        *(serve(**SHORT, ROOMS_PRESENCE_KEY_PREFIX=presence_prefix) for _ in range(2))
    )
    return first, second


@contextlib.asynccontextmanager
async def room_channel(redis: aioredis.Redis, room_id: uuid.UUID) -> AsyncIterator[list[Any]]:
    """The room's events as published on ``room:{id}:events`` (lobby.md §3), typed, as they come:
    heard when no socket follows the room any more."""
    heard: list[Any] = []
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"room:{room_id}:events")

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                text = message["data"]
                heard.append(parse_event(RoomEvent(text, json.loads(text))))

    task = asyncio.create_task(listen())
    try:
        yield heard
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pubsub.aclose()


async def room_row(database_url: str, room_id: uuid.UUID) -> list[Any]:
    return await fetch(database_url, "SELECT status::text FROM rooms WHERE room_id = $1", room_id)


async def test_the_serve_loop_runs_a_rooms_lifecycle_to_its_deletion(
    instances: tuple[ServerProcess, ServerProcess],
    database_url: str,
    redis: aioredis.Redis,
    room_keys: RoomKeys,
) -> None:
    first, second = instances
    ann, bob, cat = [await add_user(database_url, name) for name in ("Ann", "Bob", "Cat")]
    a = await Socket.open(first.url, ann)
    made = await a.client.create_room()
    room_id = made.room_id
    room_keys.track(RoomId(room_id))
    b = await Socket.open(second.url, bob)
    assert (await b.client.join_room(made.code)).seat_index == 1
    c = await Socket.open(first.url, cat)
    assert (await c.client.join_room(made.code)).seat_index == 2
    await a.hears(PlayerJoined, user_id=cat)

    # Bob's socket closes: the seat is held; he is back within the hold, on
    # the other instance, through get_room: the same seat, reconnected.
    await b.close()
    gone = await a.hears(PlayerDisconnected, user_id=bob)
    assert (gone.seat_index, gone.version) == (1, 2)
    b = await Socket.open(first.url, bob)
    room = await b.client.get_room(room_id)
    seat = room.seat_of(bob)
    assert seat is not None and (seat.seat_index, seat.connected) == (1, True)
    await a.hears(PlayerReconnected, user_id=bob, seat_index=1)

    # Cat leaves for good: released after the hold, reason timeout, once.
    await c.close()
    await a.hears(PlayerDisconnected, user_id=cat)
    left = await a.hears(PlayerLeft, user_id=cat)
    assert (left.seat_index, left.reason, left.version) == (2, "timeout", 3)
    await asyncio.sleep(AFTER_A_RELEASE_S)
    assert len(a.of(PlayerLeft, user_id=cat)) == 1
    assert [s.of(PlayerLeft, user_id=bob) for s in (a, b)] == [[], []]  # Bob came back in time

    # The host goes for good: released, and the host's seat passes to Bob.
    await a.close()
    await b.hears(PlayerDisconnected, user_id=ann)
    left = await b.hears(PlayerLeft, user_id=ann)
    host = await b.hears(HostChanged)
    assert (left.seat_index, left.reason) == (0, "timeout")
    assert (host.user_id, host.seat_index, host.version) == (bob, 1, left.version)
    assert b.heard.index(left) < b.heard.index(host)
    await asyncio.sleep(AFTER_A_RELEASE_S)
    assert (len(b.of(PlayerLeft, user_id=ann)), len(b.of(HostChanged))) == (1, 1)
    room = await b.client.get_room(room_id)
    assert (room.status, room.host_seat, room.version) == ("open", 1, 4)

    # The last one goes for good: released, the room closes. No socket
    # follows it any more: its channel is what tells.
    async with room_channel(redis, room_id) as channel:
        await b.close()

        async def closed() -> bool:
            return any(isinstance(e, RoomClosed) for e in channel)

        await until(closed, "room_closed on the room's channel")
    left, closing = (e for e in channel if isinstance(e, PlayerLeft | RoomClosed))
    assert isinstance(left, PlayerLeft) and isinstance(closing, RoomClosed)
    assert (left.user_id, left.reason, closing.reason) == (bob, "timeout", "empty")
    assert closing.version == left.version == 5

    # Closed, then deleted by a later round once its retention (1 s) is over.
    async def deleted() -> bool:
        return not await room_row(database_url, room_id)

    await until(deleted, "the closed room's deletion by the serve loop")
    assert not await redis.exists(
        f"room:{room_id}:meta", f"room:{room_id}:seats", f"room:{room_id}:presence"
    )
    # The tombstone keeps late writes out for its own time (docs/operations.md), then goes.
    assert 0 < await redis.ttl(f"room:{room_id}:closed") <= 3600


async def test_a_room_in_game_keeps_a_disconnected_players_seat(
    instances: tuple[ServerProcess, ServerProcess],
    database_url: str,
    room_keys: RoomKeys,
) -> None:
    first, second = instances
    ann, bob = await add_user(database_url, "Ann"), await add_user(database_url, "Bob")
    a = await Socket.open(first.url, ann)
    made = await a.client.create_room()
    room_keys.track(RoomId(made.room_id))
    b = await Socket.open(second.url, bob)
    await b.client.join_room(made.code)
    await a.client.set_ready(made.room_id)
    await b.client.set_ready(made.room_id)
    await a.client.start_game(made.room_id)

    await b.close()
    await a.hears(PlayerDisconnected, user_id=bob)
    await asyncio.sleep(3 * HOLD_S + 2 * SWEEP_S)  # several holds and rounds
    assert a.of(PlayerLeft) == []
    seats = await fetch(
        database_url,
        "SELECT user_id FROM room_seats WHERE room_id = $1 AND seat_index = 1",
        made.room_id,
    )
    assert seats[0]["user_id"] == bob
    # Still his: back, the same seat.
    b = await Socket.open(first.url, bob)
    room = await b.client.get_room(made.room_id)
    assert room.status == "in_game"
    seat = room.seat_of(bob)
    assert seat is not None and (seat.seat_index, seat.connected) == (1, True)
    await a.hears(PlayerReconnected, user_id=bob)
    await asyncio.gather(a.close(), b.close())
