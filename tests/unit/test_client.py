"""rooms_client against a scripted fake server: ids, retries, reconnection, events.

The real server is in tests/integration/test_client_server.py; here every
failure can be produced on cue. Backoff waits are made tiny, and no test
asserts a duration.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import pytest

from rooms_client import (
    ConnectionLost,
    ConnectionRefused,
    CreateRoomOk,
    HandshakeRefused,
    RetryPolicy,
    RoomEvent,
    RoomsClient,
    ServerClosed,
    ServerError,
)
from rooms_client.errors import ErrorCode, ProtocolError
from rooms_client.protocol import Reply, create_room_frame, read_frame
from tests.unit.client_fakes import (
    FakeServer,
    close,
    drop,
    error,
    event,
    fake_server,
    ok,
    room_of,
    silence,
    then,
)

FAST = RetryPolicy(attempts=4, base_s=0.001, cap_s=0.01, reply_timeout_s=10, open_timeout_s=10)


@pytest.fixture
async def server() -> Any:
    async with fake_server() as fake:
        yield fake


def connect(server: FakeServer, policy: RetryPolicy = FAST, **options: Any) -> Any:
    return RoomsClient.connect(server.url, "the-token", policy=policy, **options)


# --- the happy path --------------------------------------------------------------------


async def test_create_room_sends_the_contract_defaults_and_returns_a_typed_result(
    server: FakeServer,
) -> None:
    async with connect(server) as client:
        room = await client.create_room()
    ((_, frame),) = server.frames
    assert frame["type"] == "create_room"
    assert frame["payload"] == {
        "visibility": "private",
        "max_players": 4,
        "ruleset_id": "classic",
        "ruleset_config": {},
    }
    assert isinstance(room, CreateRoomOk)
    assert room.request_id == uuid.UUID(frame["request_id"])
    assert room.room_id == uuid.UUID(room_of(frame["request_id"]))
    assert (room.code, room.seat_index, room.is_host) == ("AB12CD", 0, True)


async def test_every_call_gets_a_fresh_request_id_unless_given_one(server: FakeServer) -> None:
    chosen = uuid.uuid4()
    async with connect(server) as client:
        await client.create_room(max_players=2, ruleset_config={"turn_s": 30})
        await client.create_room()
        again = await client.create_room(request_id=chosen)
    ids = server.request_ids()
    assert len(set(ids)) == 3
    assert ids[2] == str(chosen) == str(again.request_id)
    assert server.frames[0][1]["payload"]["max_players"] == 2
    assert server.frames[0][1]["payload"]["ruleset_config"] == {"turn_s": 30}


async def test_the_token_goes_in_the_authorization_header(server: FakeServer) -> None:
    async with connect(server):
        pass
    (handshake,) = server.handshakes
    assert handshake.headers["Authorization"] == "Bearer the-token"
    assert handshake.path == "/ws"


async def test_browsers_way_the_token_in_the_query_and_an_origin(server: FakeServer) -> None:
    async with connect(server, auth="query", origin="http://127.0.0.1:3000"):
        pass
    (handshake,) = server.handshakes
    assert "Authorization" not in handshake.headers
    assert handshake.path == "/ws?access_token=the-token"
    assert handshake.headers["Origin"] == "http://127.0.0.1:3000"


async def test_trace_sees_every_frame(server: FakeServer) -> None:
    seen: list[tuple[str, str]] = []
    server.script = [error("rate_limited", True), ok]
    async with connect(server, trace=lambda d, f: seen.append((d, f))) as client:
        await client.create_room()
    assert [d for d, _ in seen] == [">", "<", ">", "<"]
    assert seen[0][1] == seen[2][1]  # the retry is the same frame
    assert json.loads(seen[3][1])["type"] == "create_room_ok"


# --- errors from the server ------------------------------------------------------------


@pytest.mark.parametrize("code", ["request_in_progress", "rate_limited", "unavailable"])
async def test_a_retryable_error_is_retried_with_the_same_request_id(
    server: FakeServer, code: str
) -> None:
    server.script = [error(code, True), error(code, True), ok]
    async with connect(server) as client:
        room = await client.create_room()
    ids = server.request_ids()
    assert len(ids) == 3
    assert set(ids) == {str(room.request_id)}
    assert server.connections == 1


async def test_a_non_retryable_error_is_raised_at_once(server: FakeServer) -> None:
    details = [{"field": "max_players", "problem": "must be an integer from 2 to 4"}]
    server.script = [error("validation_failed", False, details)]
    async with connect(server) as client:
        with pytest.raises(ServerError) as raised:
            await client.create_room(max_players=9)
    assert raised.value.code == ErrorCode.VALIDATION_FAILED
    assert raised.value.retryable is False
    assert raised.value.details == details
    assert raised.value.problems() == {"max_players": "must be an integer from 2 to 4"}
    assert raised.value.request_id == server.request_ids()[0]
    assert len(server.frames) == 1


async def test_retries_are_bounded(server: FakeServer) -> None:
    server.script = [error("unavailable", True)] * 10
    async with connect(server) as client:
        with pytest.raises(ServerError) as raised:
            await client.create_room()
    assert raised.value.code == "unavailable"
    assert raised.value.retryable is True
    assert len(server.frames) == FAST.attempts
    assert len(set(server.request_ids())) == 1


# --- the connection --------------------------------------------------------------------


@pytest.mark.parametrize("loss", [drop, close(1012), close(1001)], ids=["dropped", "1012", "1001"])
async def test_a_lost_connection_is_reopened_and_the_request_resent(
    server: FakeServer, loss: Any
) -> None:
    server.script = [loss, ok]
    async with connect(server) as client:
        room = await client.create_room()
        assert client.connections == 2
    assert server.connections == 2
    (first_socket, first), (second_socket, second) = server.frames
    assert (first_socket, second_socket) == (1, 2)
    assert first == second  # the same request_id and payload: a replay
    assert room.request_id == uuid.UUID(first["request_id"])


async def test_a_reply_that_never_comes_is_asked_for_again(server: FakeServer) -> None:
    server.script = [silence, ok]
    policy = RetryPolicy(attempts=3, base_s=0.001, cap_s=0.01, reply_timeout_s=0.2)
    async with connect(server, policy) as client:
        room = await client.create_room()
    assert server.request_ids() == [str(room.request_id)] * 2


@pytest.mark.parametrize("code", [4001, 4008, 1009])
async def test_a_close_that_forbids_reconnecting_ends_the_client(
    server: FakeServer, code: int
) -> None:
    server.script = [close(code)]
    async with connect(server) as client:
        with pytest.raises(ServerClosed) as raised:
            await client.create_room()
        with pytest.raises(ServerClosed):
            await client.create_room()
    assert raised.value.close_code == code
    assert server.connections == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_handshake_is_not_retried(server: FakeServer, status: int) -> None:
    server.refusals = [status]
    with pytest.raises(HandshakeRefused) as raised:
        async with connect(server):
            pass
    assert raised.value.status == status
    assert len(server.handshakes) == 1


async def test_a_full_server_is_tried_again(server: FakeServer) -> None:
    server.refusals = [503, 429]
    async with connect(server) as client:
        await client.create_room()
    assert len(server.handshakes) == 3


async def test_a_server_that_stays_full_is_given_up_on(server: FakeServer) -> None:
    server.refusals = [503] * 10
    with pytest.raises(HandshakeRefused):
        async with connect(server):
            pass
    assert len(server.handshakes) == FAST.attempts


async def test_no_server_at_all() -> None:
    async with fake_server() as gone:
        url = gone.url
    with pytest.raises(ConnectionLost):  # a ConnectionRefused
        async with RoomsClient.connect(url, "t", policy=FAST):
            pass


async def test_a_refused_token_says_why(server: FakeServer) -> None:
    server.refusals = [401]
    server.challenge = 'Bearer error="invalid_token", error_description="the token has expired"'
    with pytest.raises(HandshakeRefused) as raised:
        async with connect(server):
            pass
    refused = raised.value
    assert (refused.status, refused.error) == (401, "invalid_token")
    assert refused.description == "the token has expired"
    assert str(refused).endswith("HTTP 401: the token has expired")
    assert refused.challenge == server.challenge


def test_a_challenge_is_read_as_auth_params() -> None:
    refused = HandshakeRefused(
        401, challenge='Bearer realm="rooms", ERROR_DESCRIPTION="a \\"quoted\\" word"'
    )
    assert refused.description == 'a "quoted" word' and refused.error is None
    bare = HandshakeRefused(403)
    assert (bare.description, bare.error, str(bare)) == (
        None,
        None,
        "the server refused the handshake with HTTP 403",
    )


async def test_nothing_listening_is_reported_within_seconds_with_a_line_per_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with fake_server() as gone:
        port = gone.url.split(":")[2].split("/")[0]
    policy = RetryPolicy()  # the defaults: 8 attempts, about 17 s of backoff in all
    caplog.set_level(logging.WARNING, logger="rooms_client")
    started = time.monotonic()
    # localhost may stand for two addresses (::1 and 127.0.0.1): both refuse.
    for url in (f"ws://127.0.0.1:{port}/ws", f"ws://localhost:{port}/ws"):
        caplog.clear()
        with pytest.raises(ConnectionRefused) as raised:
            async with RoomsClient.connect(url, "t", policy=policy):
                pass
        assert "connection refused" in str(raised.value)
        retries = [
            r for r in caplog.records if r.name == "rooms_client" and "retrying" in r.message
        ]
        assert len(retries) == policy.refused_attempts - 1
        assert "attempt 1 of 3 failed" in retries[0].message
    # Generous: the whole backoff would be over 15 s for each URL.
    assert time.monotonic() - started < 12


async def test_after_a_first_connection_a_refusal_is_a_restart_and_retried_in_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rooms_client")
    async with fake_server() as fake:
        client = RoomsClient(fake.url, "t", policy=FAST)
        await client.start()
    # The server went away (closing its sockets with 1001): the client tries
    # again as many times as its policy allows, logging each failure.
    with pytest.raises(ConnectionRefused):
        async for _ in client.room_events():
            pass
    await client.aclose()
    retries = [r for r in caplog.records if r.name == "rooms_client" and "retrying" in r.message]
    assert len(retries) == FAST.attempts - 1 > FAST.refused_attempts - 1


async def test_a_drop_while_idle_is_repaired_before_the_next_request(server: FakeServer) -> None:
    async with connect(server) as client:
        await client.create_room()
        server.sockets[0].transport.abort()
        room = await client.create_room()
    assert server.connections == 2
    # The socket also carries the replay of the first create_room and a get_room.
    (last_create,) = [f for f in server.frames if f[1]["request_id"] == str(room.request_id)]
    assert last_create[0] == 2


# --- room events -------------------------------------------------------------------------


async def test_frames_that_answer_nothing_are_room_events(server: FakeServer) -> None:
    server.script = [then(event({"type": "before"}), ok, event("not json"))]
    async with connect(server) as client:
        room = await client.create_room()
        await server.push({"type": "seat_updated", "room_id": str(room.room_id)})
        events = client.room_events()
        received = [await anext(events) for _ in range(3)]
    assert [e.type for e in received] == ["before", None, "seat_updated"]
    assert received[1] == RoomEvent("not json", None)
    assert received[2].data == {"type": "seat_updated", "room_id": str(room.room_id)}


async def test_a_late_duplicate_reply_is_not_an_event(server: FakeServer) -> None:
    server.script = [then(ok, ok)]  # the same reply twice
    async with connect(server) as client:
        await client.create_room()
        await server.push({"type": "marker"})
        first = await anext(client.room_events())
    assert first.type == "marker"


async def test_after_a_reconnection_the_rooms_are_followed_again(server: FakeServer) -> None:
    async with connect(server) as client:
        room = await client.create_room()
        await server.sockets[0].close(1012)
        await server.wait_frames(2)  # the client replays its create_room on the new socket
        assert server.frames[1] == (2, server.frames[0][1])
        await server.push({"type": "after_restart"})
        received = await anext(client.room_events())
    assert received.type == "after_restart"
    assert client.connections == 2
    assert room.room_id == uuid.UUID(room_of(server.frames[1][1]["request_id"]))


async def test_events_end_when_the_client_closes(server: FakeServer) -> None:
    async with connect(server) as client:
        await server.push({"type": "last"})
        events = client.room_events()
        assert (await anext(events)).type == "last"
    assert [e async for e in events] == []


async def test_events_raise_why_the_connection_ended(server: FakeServer) -> None:
    async with connect(server) as client:
        await server.sockets[0].close(4001)
        with pytest.raises(ServerClosed):
            async for _ in client.room_events():
                pass


# --- pieces without a socket ---------------------------------------------------------------


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = RetryPolicy(attempts=10, base_s=0.5, cap_s=4.0)
    lowest = [policy.delay(n, rand=lambda: 0.0) for n in range(6)]
    highest = [policy.delay(n, rand=lambda: 1.0) for n in range(6)]
    assert lowest == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert highest == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.delay(2, rand=lambda: 0.5) == 1.5
    assert policy.delay(10_000, rand=lambda: 1.0) == 4.0


@pytest.mark.parametrize(
    "bad", [{"attempts": 0}, {"base_s": -1}, {"base_s": 2, "cap_s": 1}, {"reply_timeout_s": 0}]
)
def test_backoff_refuses_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        RetryPolicy(**bad)


def test_frames_are_replies_only_for_our_request_ids() -> None:
    rid = str(uuid.uuid4())
    frame = json.dumps({"type": "create_room_ok", "request_id": rid, "payload": {}})
    assert isinstance(read_frame(frame, {rid}), Reply)
    assert isinstance(read_frame(frame, set()), RoomEvent)
    assert read_frame(b"[1]", {rid}) == RoomEvent("[1]", None)
    with pytest.raises(ProtocolError):
        read_frame(json.dumps({"type": 7, "request_id": rid, "payload": {}}), {rid})


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"room_id": "x", "code": "AB12CD", "seat_index": 0, "is_host": True},
        {"room_id": str(uuid.uuid4()), "code": "AB12CD", "seat_index": True, "is_host": True},
    ],
)
def test_a_malformed_result_is_a_protocol_error(payload: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        CreateRoomOk.from_reply(Reply(str(uuid.uuid4()), "create_room_ok", payload))


def test_a_malformed_error_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        Reply(str(uuid.uuid4()), "error", {"code": "x"}).error()


def test_the_frame_is_compact_json_and_refuses_nan() -> None:
    frame = create_room_frame(
        "r", ruleset_id="classic", max_players=4, ruleset_config=None, visibility="private"
    )
    assert " " not in frame
    with pytest.raises(ValueError, match="JSON"):
        create_room_frame(
            "r",
            ruleset_id="classic",
            max_players=4,
            ruleset_config={"x": float("nan")},
            visibility="private",
        )


def test_the_client_knows_the_servers_error_codes() -> None:
    from rooms_ws.errors import ErrorCode as ServerCodes

    assert {c.value for c in ServerCodes} == {c.value for c in ErrorCode}
