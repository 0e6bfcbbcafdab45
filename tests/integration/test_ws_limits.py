"""Limits and their log lines on a real ``rooms serve``: the per-user create
budget, and the close of a client that reads nothing at all.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.integration.fullstack import Serve, add_user
from tests.integration.redis_fixtures import RoomKeys
from tests.integration.server_probe import log_records
from tests.integration.server_process import ServerProcess, fetch
from tests.integration.ws_support import ask, client, create_room, token_for

pytestmark = pytest.mark.integration

GUARD_S = 60.0


def closed_lines(server: ServerProcess, user: uuid.UUID) -> list[dict[str, Any]]:
    return [
        r
        for r in log_records(server.log())
        if r.get("msg") == "connection closed" and r.get("user_id") == str(user)
    ]


async def test_a_user_creates_at_most_the_budget_per_minute_across_sockets(
    serve: Serve, database_url: str, room_keys: RoomKeys
) -> None:
    budget = 6
    server = await serve(ROOMS_USER_CREATES_PER_MINUTE=str(budget))
    ann, bob = await add_user(database_url, "Ann"), await add_user(database_url, "Bob")
    first = create_room()
    reused = create_room(first["request_id"], max_players=2)
    # Only a room made costs budget: the two replays of the first create and
    # the two refused reuses of its request_id do not.
    frames = [first, first, first, reused, reused] + [create_room() for _ in range(budget * 2)]
    outcomes: list[str] = []
    async with (
        client(server.url, token_for(ann)) as one,
        client(server.url, token_for(ann)) as two,
        client(server.url, token_for(ann)) as three,
    ):
        for i, frame in enumerate(frames):
            reply = await ask((one, two, three)[i % 3], frame)
            assert reply["request_id"] == frame["request_id"]
            if reply["type"] == "create_room_ok":
                room_keys.track(uuid.UUID(reply["payload"]["room_id"]))
                outcomes.append("ok")
            else:
                outcomes.append(reply["payload"]["code"])
        # The sockets share one budget; a new socket does not reset it.
        async with client(server.url, token_for(ann)) as four:
            late = await ask(four, create_room())
            assert late["payload"]["code"] == "rate_limited"
            assert late["payload"]["retryable"] is True
        # Another user has a budget of their own.
        async with client(server.url, token_for(bob)) as other:
            theirs = await ask(other, create_room())
            assert theirs["type"] == "create_room_ok"
            room_keys.track(uuid.UUID(theirs["payload"]["room_id"]))
    assert outcomes == ["ok"] * 3 + ["idempotency_key_reused"] * 2 + ["ok"] * (budget - 1) + [
        "rate_limited"
    ] * (budget + 1)
    rooms = await fetch(database_url, "SELECT 1 FROM rooms WHERE owner_user_id = $1", ann)
    assert len(rooms) == budget


async def test_a_close_that_cannot_be_delivered_is_logged_with_its_code(
    serve: Serve, database_url: str, redis: aioredis.Redis, room_keys: RoomKeys
) -> None:
    """A client that reads nothing cannot receive the 4009 close frame either;
    the log still says 4009 (it said ``close_code: null``)."""
    server = await serve(ROOMS_OUTBOX_SIZE="4", ROOMS_SEND_TIMEOUT_S="1")
    user = await add_user(database_url)
    # max_queue=1: the client library stops reading from its socket at once.
    async with client(server.url, token_for(user), max_queue=1, max_size=None) as ws:
        reply = await ask(ws, create_room())
        room = reply["payload"]["room_id"]
        room_keys.track(uuid.UUID(room))
        # Random, so that compression cannot make it small on the wire.
        event = json.dumps({"type": "noise", "payload": secrets.token_urlsafe(45_000)})
        async with asyncio.timeout(GUARD_S):
            while not closed_lines(server, user):
                # One at a time: the server's outgoing queue must be what
                # overflows, not the fan-out's queue in front of it.
                await redis.publish(f"room:{room}:events", event)
                await asyncio.sleep(0.02)
        transport = ws.transport
        transport.abort()  # the reader that never reads leaves without a word
    [line] = closed_lines(server, user)
    assert line["close_code"] == 4009, line


async def test_a_socket_follows_at_most_the_cap_and_drops_the_least_recent(
    serve: Serve, database_url: str, redis: aioredis.Redis, room_keys: RoomKeys
) -> None:
    cap = 3
    server = await serve(ROOMS_MAX_FOLLOWED_ROOMS=str(cap))
    ann = await add_user(database_url, "Ann")
    rooms: list[str] = []
    async with client(server.url, token_for(ann)) as ws:
        for _ in range(cap + 2):
            reply = await ask(ws, create_room())
            rooms.append(reply["payload"]["room_id"])
            room_keys.track(uuid.UUID(rooms[-1]))
        channels = [f"room:{r}:events" for r in rooms]
        counts = [n for _, n in await redis.pubsub_numsub(*channels)]
        # The two rooms followed first were dropped: nobody listens there any more.
        assert counts == [0, 0, 1, 1, 1]
        # What is still published on a dropped room never reaches the socket;
        # the followed rooms' messages do.
        marker = secrets.token_hex(8)
        await redis.publish(channels[0], json.dumps({"type": "dropped", "marker": marker}))
        await redis.publish(channels[-1], json.dumps({"type": "kept", "marker": marker}))
        heard = json.loads(await asyncio.wait_for(ws.recv(), GUARD_S))
        assert heard == {"type": "kept", "marker": marker}
