"""/ws on a real uvicorn in this process, with the in-memory adapters.

Every wire rule of contract §2-4 that does not need PostgreSQL or Redis to
be observed; the real-server suites repeat the important ones end to end.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from rooms_domain import RoomId
from tests.contracts.support import eventually
from tests.integration.memory_server import MemoryServer, StartMemoryServer
from tests.integration.ws_support import (
    INVALID_PAYLOADS,
    MALFORMED_FRAMES,
    SECRET,
    ask,
    client,
    close_code,
    create_room,
    receive,
    refusal_status,
    replayed_create,
    token_for,
)


def nothing_written(server: MemoryServer) -> bool:
    return not server.db.rooms and not server.db.idempotency and not server.cache.views


async def test_create_room_ok(memory_server: MemoryServer) -> None:
    user = memory_server.add_user("Ann")
    async with client(memory_server.url, token_for(user)) as ws:
        request = create_room(max_players=3)
        reply = await ask(ws, request)
    assert reply["type"] == "create_room_ok"
    assert reply["request_id"] == request["request_id"]
    payload = reply["payload"]
    assert set(payload) == {"room_id", "code", "seat_index", "is_host"}
    assert payload["seat_index"] == 0 and payload["is_host"] is True
    room = memory_server.db.rooms[RoomId(uuid.UUID(payload["room_id"]))]
    assert room.owner_user_id == user and room.code == payload["code"]
    assert room.settings.max_players == 3


@pytest.mark.parametrize(
    ("frame", "code", "echo"),
    [c[1:] for c in MALFORMED_FRAMES],
    ids=[c[0] for c in MALFORMED_FRAMES],
)
async def test_malformed_frames(
    memory_server: MemoryServer, frame: str | bytes, code: str, echo: str | None
) -> None:
    user = memory_server.add_user()
    async with client(memory_server.url, token_for(user)) as ws:
        reply = await ask(ws, frame)
        assert reply["type"] == "error"
        assert reply["request_id"] == echo
        assert reply["payload"]["code"] == code
        assert reply["payload"]["retryable"] is False
        assert isinstance(reply["payload"]["details"], list)
        assert nothing_written(memory_server)
        # The connection survives and still serves.
        assert (await ask(ws, create_room()))["type"] == "create_room_ok"


@pytest.mark.parametrize(
    ("payload", "details"), [c[1:] for c in INVALID_PAYLOADS], ids=[c[0] for c in INVALID_PAYLOADS]
)
async def test_validation_failures(
    memory_server: MemoryServer, payload: Any, details: list[dict[str, str]]
) -> None:
    user = memory_server.add_user()
    request_id = str(uuid.uuid4())
    async with client(memory_server.url, token_for(user)) as ws:
        message = {"type": "create_room", "request_id": request_id, "payload": payload}
        reply = await ask(ws, message)
        assert reply == {
            "type": "error",
            "request_id": request_id,
            "payload": {
                "code": "validation_failed",
                "message": reply["payload"]["message"],
                "retryable": False,
                "details": details,
            },
        }
        assert nothing_written(memory_server)
        assert (await ask(ws, create_room()))["type"] == "create_room_ok"


async def test_defaults_and_omission_are_the_same_request(memory_server: MemoryServer) -> None:
    user = memory_server.add_user()
    request_id = str(uuid.uuid4())
    async with client(memory_server.url, token_for(user)) as ws:
        first = await ask(ws, create_room(request_id))
        full = create_room(request_id, visibility="private", max_players=4, ruleset_config={})
        assert await ask(ws, full) == first
    assert len(memory_server.db.rooms) == 1


class TestHandshake:
    async def test_missing_malformed_expired_and_forged_tokens_get_401(
        self, memory_server: MemoryServer
    ) -> None:
        user = memory_server.add_user()
        url = memory_server.url
        forged = token_for(user, secret="another-secret-another-secret-another")
        no_exp = jwt.encode({"sub": str(user)}, SECRET, algorithm="HS256")
        for token in [None, "garbage", token_for(user, ttl_s=-120), forged, no_exp]:
            assert await refusal_status(url, token) == 401
        assert await refusal_status(url, token_for(uuid.uuid4())) == 401  # no such user
        assert nothing_written(memory_server)

    async def test_token_in_the_query_string(self, memory_server: MemoryServer) -> None:
        user = memory_server.add_user()
        async with client(memory_server.url, token_for(user), via_query=True) as ws:
            assert (await ask(ws, create_room()))["type"] == "create_room_ok"

    async def test_origins(self, start_memory_server: StartMemoryServer) -> None:
        server = await start_memory_server(
            allowed_origins="https://game.example,http://localhost:*"
        )
        user = server.add_user()
        token = token_for(user)
        assert await refusal_status(server.url, token, origin="https://evil.example") == 403
        assert await refusal_status(server.url, token, origin="null") == 403
        assert await refusal_status(server.url, token, origin="https://game.example") is None
        assert await refusal_status(server.url, token, origin="http://localhost:5173") is None
        assert await refusal_status(server.url, token) is None  # native client: no Origin

    async def test_per_user_cap_gets_429_and_process_cap_503(
        self, start_memory_server: StartMemoryServer
    ) -> None:
        server = await start_memory_server(max_connections_per_user=2, max_connections=3)
        ann, bob = server.add_user("Ann"), server.add_user("Bob")
        async with client(server.url, token_for(ann)), client(server.url, token_for(ann)):
            assert await refusal_status(server.url, token_for(ann)) == 429
            async with client(server.url, token_for(bob)):
                assert await refusal_status(server.url, token_for(bob)) == 503
        # Slots come back when sockets close.
        await eventually(lambda: not server.sessions)
        assert await refusal_status(server.url, token_for(ann)) is None


class TestLimits:
    async def test_a_flood_is_rate_limited_then_closed_with_4008(
        self, start_memory_server: StartMemoryServer
    ) -> None:
        server = await start_memory_server(rate_per_second=1, rate_burst=3, rate_abuse_strikes=20)
        user = server.add_user()
        async with client(server.url, token_for(user)) as ws:
            request_ids = [str(uuid.uuid4()) for _ in range(40)]
            for request_id in request_ids:
                await ws.send(json.dumps({"type": "nope", "request_id": request_id}))
            codes = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    codes.append(await receive(ws))
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
        assert [r["payload"]["code"] for r in codes[:3]] == ["unknown_type"] * 3
        limited = codes[3:]
        assert limited and all(r["payload"]["code"] == "rate_limited" for r in limited)
        assert all(r["payload"]["retryable"] is True for r in limited)
        assert [r["request_id"] for r in limited] == request_ids[3 : 3 + len(limited)]

    async def test_rate_limited_clients_recover(
        self, start_memory_server: StartMemoryServer
    ) -> None:
        server = await start_memory_server(rate_per_second=20, rate_burst=2)
        user = server.add_user()
        async with client(server.url, token_for(user)) as ws:
            replies = [await ask(ws, create_room()) for _ in range(3)]
            assert replies[2]["payload"]["code"] == "rate_limited"
            await asyncio.sleep(0.2)
            assert (await ask(ws, create_room()))["type"] == "create_room_ok"

    async def test_a_frame_over_the_limit_closes_with_1009(
        self, start_memory_server: StartMemoryServer
    ) -> None:
        server = await start_memory_server(max_message_bytes=4096)
        user = server.add_user()
        async with client(server.url, token_for(user), max_size=None) as ws:
            await ws.send("x" * 5000)
            assert await close_code(ws) == 1009
        async with client(server.url, token_for(user)) as ws:  # others unaffected
            assert (await ask(ws, create_room()))["type"] == "create_room_ok"

    async def test_an_expired_token_closes_with_4001(
        self, start_memory_server: StartMemoryServer
    ) -> None:
        memory_server = await start_memory_server(jwt_leeway_seconds=0)
        user = memory_server.add_user()
        token = jwt.encode(
            {"sub": str(user), "exp": int(time.time()) + 2}, SECRET, algorithm="HS256"
        )
        async with client(memory_server.url, token) as ws:
            assert await close_code(ws, within_s=10) == 4001

    async def test_a_slow_reader_is_closed_with_4009(
        self, start_memory_server: StartMemoryServer
    ) -> None:
        server = await start_memory_server(outbox_size=8, send_timeout_s=30)
        user = server.add_user()
        async with client(server.url, token_for(user), max_queue=4) as ws:
            room = (await ask(ws, create_room()))["payload"]["room_id"]
            event = json.dumps({"type": "noise", "payload": "x" * 4000})
            # The client reads nothing now; the server must not buffer forever.
            for _ in range(20_000):
                await server.events.publish(RoomId(uuid.UUID(room)), event)
                if all(session.closing for session in server.sessions):
                    break
            assert all(session.closing for session in server.sessions)
            assert await close_code(ws, within_s=20) == 4009
        assert not server.events.listeners.get(RoomId(uuid.UUID(room)))


class TestRoomEvents:
    async def test_published_messages_reach_the_creator_unchanged(
        self, memory_server: MemoryServer
    ) -> None:
        ann, bob = memory_server.add_user("Ann"), memory_server.add_user("Bob")
        async with (
            client(memory_server.url, token_for(ann)) as ws,
            client(memory_server.url, token_for(bob)) as other,
        ):
            room = RoomId(uuid.UUID((await ask(ws, create_room()))["payload"]["room_id"]))
            message = '{"type":"seat_taken","payload":{"seat":1,"name":"Zoë"}}'
            await memory_server.events.publish(room, message)
            assert await asyncio.wait_for(ws.recv(), 5) == message
            assert (await ask(other, create_room()))["type"] == "create_room_ok"
        # Unsubscribed on close.
        await eventually(lambda: not memory_server.events.listeners.get(room))

    async def test_a_replay_subscribes_too(self, memory_server: MemoryServer) -> None:
        user = memory_server.add_user()
        request = create_room()
        async with replayed_create(memory_server.url, user, request) as (ws, first, replayed):
            assert replayed == first
            room = RoomId(uuid.UUID(first["payload"]["room_id"]))
            await memory_server.events.publish(room, "hello")
            heard = await asyncio.wait_for(ws.recv(), 5)
            if "player_reconnected" in heard:
                heard = await asyncio.wait_for(ws.recv(), 5)
            assert heard == "hello"


async def test_errors_keep_the_connection_and_bugs_are_internal_errors(
    memory_server: MemoryServer,
) -> None:
    user = memory_server.add_user()
    memory_server.db.unavailable = True
    # No verdict on the token without the database: try again later.
    assert await refusal_status(memory_server.url, token_for(user)) == 503
    memory_server.db.unavailable = False
    async with client(memory_server.url, token_for(user)) as ws:
        memory_server.db.unavailable = True
        reply = await ask(ws, create_room())
        assert reply["payload"]["code"] == "unavailable" and reply["payload"]["retryable"]
        memory_server.db.unavailable = False
        # A broken cache never costs the answer.
        memory_server.cache.fail_with = RuntimeError("cache down")
        assert (await ask(ws, create_room()))["type"] == "create_room_ok"
        # A bug becomes internal_error, and the connection carries on.
        del memory_server.db.users[user]
        reply = await ask(ws, create_room())
        assert reply["payload"]["code"] == "internal_error" and reply["payload"]["retryable"]
        memory_server.db.add_user(user, "Ann")
        assert (await ask(ws, create_room()))["type"] == "create_room_ok"


async def test_sigterm_drain_answers_in_flight_requests_then_closes_with_1012(
    start_memory_server: StartMemoryServer,
) -> None:
    server = await start_memory_server(create_room_delay_s=0.5)
    user = server.add_user()
    async with (
        client(server.url, token_for(user)) as ws,
        client(server.url, token_for(user)) as idle,
    ):
        await ws.send(json.dumps(create_room()))
        await asyncio.sleep(0.1)  # the request is in flight
        server.server.should_exit = True
        reply = await receive(ws)
        assert reply["type"] == "create_room_ok"
        assert await close_code(ws) == 1012
        assert await close_code(idle) == 1012
    await asyncio.wait_for(server.task, 30)
    assert len(server.db.rooms) == 1
