"""rooms_client's lobby: typed requests, typed events, version gaps, against the fake lobby.

The fake (tests/unit/client_fakes.py) plays the lobby rules with real
sockets; gaps and late events are pushed by hand. The real server's side is
tests/integration.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rooms_client import (
    CreateRoomOk,
    GameStarted,
    HostChanged,
    JoinRoomOk,
    LobbyEvent,
    PlayerDisconnected,
    PlayerJoined,
    PlayerLeft,
    PlayerReady,
    RetryPolicy,
    Room,
    RoomClosed,
    RoomsClient,
    RoomSynced,
    ServerError,
)
from rooms_client.errors import ErrorCode, ProtocolError
from rooms_client.events import Step, Versions, parse_event
from rooms_client.lobby import JoinRoomOk as JoinReply
from rooms_client.protocol import Reply, RoomEvent
from tests.unit.client_fakes import FakeServer, error, fake_server, user_of

FAST = RetryPolicy(attempts=4, base_s=0.001, cap_s=0.01, reply_timeout_s=10, open_timeout_s=10)
Item = LobbyEvent | RoomSynced


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with fake_server() as fake:
        yield fake


def connect(server: FakeServer, token: str) -> Any:
    return RoomsClient.connect(server.url, token, policy=FAST)


@contextlib.asynccontextmanager
async def ann_hosts_bob(
    server: FakeServer,
) -> AsyncIterator[tuple[RoomsClient, RoomsClient, CreateRoomOk]]:
    """Ann's client and Bob's, Bob seated in the default room Ann created."""
    async with connect(server, "Ann") as ann, connect(server, "Bob") as bob:
        room = await ann.create_room()
        await bob.join_room(room.code)
        yield ann, bob, room


async def take(events: AsyncIterator[Item], count: int) -> list[Item]:
    return [await asyncio.wait_for(anext(events), 10) for _ in range(count)]


def event_frame(kind: str, room_id: uuid.UUID, version: int, **extra: Any) -> dict[str, Any]:
    payload = {"room_id": str(room_id), "version": version, **extra}
    return {"type": kind, "request_id": None, "payload": payload}


# --- requests ---------------------------------------------------------------------------


async def test_a_lobby_from_create_to_start_with_typed_replies(server: FakeServer) -> None:
    async with connect(server, "Ann") as ann, connect(server, "Bob") as bob:
        created = await ann.create_room(max_players=3)
        joined = await bob.join_room("ab-12 cd")
        assert isinstance(joined, JoinRoomOk)
        assert (joined.room_id, joined.seat_index, joined.is_host) == (created.room_id, 1, False)
        room = joined.room
        assert isinstance(room, Room)
        assert (room.code, room.status, room.max_players, room.version) == ("AB12CD", "open", 3, 1)
        assert room.host_seat == 0
        assert [s.occupied for s in room.seats] == [True, True, False]
        assert room.seats[1].display_name == "Bob"
        assert room.seats[1].user_id == uuid.UUID(user_of("Bob"))
        assert room.seat_of(uuid.UUID(user_of("Ann"))) == room.seats[0]
        assert room.seats[2].user_id is None and not room.seats[2].is_host

        ready = await bob.set_ready(created.room_id)
        assert (ready.room_id, ready.seat_index, ready.ready) == (created.room_id, 1, True)
        with pytest.raises(ServerError) as refused:
            await ann.start_game(created.room_id)
        assert refused.value.code == ErrorCode.NOT_READY
        assert refused.value.retryable is False
        assert refused.value.blocking_seats() == {0: "not ready"}

        await ann.set_ready(created.room_id, True)
        started = await ann.start_game(created.room_id)
        assert (started.room_id, started.version) == (created.room_id, 4)
        snapshot = await bob.get_room(created.room_id)
        assert (snapshot.status, snapshot.version) == ("in_game", 4)
        assert (await bob.leave_room(created.room_id)).room_id == created.room_id
    kinds = [frame["type"] for _, frame in server.frames]
    assert kinds == [
        "create_room",
        "join_room",
        "set_ready",
        "start_game",
        "set_ready",
        "start_game",
        "get_room",
        "leave_room",
    ]
    payloads = [frame["payload"] for _, frame in server.frames]
    assert payloads[1] == {"code": "ab-12 cd"}  # the server normalises, not the client
    assert payloads[2] == {"room_id": str(created.room_id), "ready": True}


async def test_kick_sends_the_seat_and_not_host_is_a_typed_error(server: FakeServer) -> None:
    async with ann_hosts_bob(server) as (ann, bob, room):
        with pytest.raises(ServerError) as refused:
            await bob.kick_player(room.room_id, 0)
        assert refused.value.code == ErrorCode.NOT_HOST
        kicked = await ann.kick_player(room.room_id, 1)
        assert (kicked.room_id, kicked.seat_index) == (room.room_id, 1)
        with pytest.raises(ServerError) as gone:
            await bob.get_room(room.room_id)
        assert gone.value.code == ErrorCode.NOT_IN_ROOM
    assert server.frames[-2][1]["payload"] == {"room_id": str(room.room_id), "seat_index": 1}


@pytest.mark.parametrize(
    "code", ["room_not_found", "room_full", "room_in_game", "not_in_room", "not_host", "not_ready"]
)
async def test_the_lobby_refusals_are_not_retried(server: FakeServer, code: str) -> None:
    server.script = [error(code, False)]
    async with connect(server, "Ann") as ann:
        with pytest.raises(ServerError) as refused:
            await ann.join_room("AB12CD")
    assert refused.value.code == ErrorCode(code)
    assert len(server.frames) == 1


async def test_a_lobby_request_is_retried_with_the_same_request_id(server: FakeServer) -> None:
    async with connect(server, "Ann") as ann:
        room = await ann.create_room()
        server.script = [error("unavailable", True)]  # then the fake lobby answers
        chosen = uuid.uuid4()
        await ann.set_ready(room.room_id, request_id=chosen)
    assert server.request_ids()[1:] == [str(chosen)] * 2


# --- events ---------------------------------------------------------------------------------


async def test_events_are_typed_and_carry_their_room(server: FakeServer) -> None:
    async with connect(server, "Ann") as ann, connect(server, "Bob") as bob:
        room = await ann.create_room(max_players=2)
        events = ann.events()
        await bob.join_room(room.code)
        await bob.set_ready(room.room_id)
        await bob.set_ready(room.room_id)  # no change: no event
        await bob.leave_room(room.room_id)
        await ann.leave_room(room.room_id)
        received = await take(events, 5)
    bob_id = uuid.UUID(user_of("Bob"))
    ann_id = uuid.UUID(user_of("Ann"))
    assert received == [
        PlayerJoined(room.room_id, 1, 1, bob_id, "Bob"),
        PlayerReady(room.room_id, 2, 1, bob_id, True),
        PlayerLeft(room.room_id, 3, 1, bob_id, "left"),
        PlayerLeft(room.room_id, 4, 0, ann_id, "left"),
        RoomClosed(room.room_id, 4, "empty"),
    ]
    assert [e.type for e in received] == [
        "player_joined",
        "player_ready",
        "player_left",
        "player_left",
        "room_closed",
    ]


async def test_host_succession_and_game_started_events(server: FakeServer) -> None:
    async with ann_hosts_bob(server) as (ann, bob, room):
        events = bob.events()
        await ann.leave_room(room.room_id)
        own_join, left, host = await take(events, 3)
        assert isinstance(own_join, PlayerJoined)  # Bob follows the room from his join
        assert isinstance(left, PlayerLeft) and isinstance(host, HostChanged)
        assert (host.seat_index, host.version, left.version) == (1, 2, 2)


async def test_a_gap_in_versions_fetches_the_room_first(server: FakeServer) -> None:
    async with connect(server, "Ann") as ann:
        room = await ann.create_room()
        events = ann.events()
        server.lobby.rooms[str(room.room_id)].version = 5  # changes this client never heard of
        await server.push(event_frame("game_started", room.room_id, 6))
        synced, started = await take(events, 2)
    assert isinstance(synced, RoomSynced)
    assert (synced.room_id, synced.version, synced.room.code) == (room.room_id, 5, "AB12CD")
    assert started == GameStarted(room.room_id, 6)
    assert [frame["type"] for _, frame in server.frames] == ["create_room", "get_room"]


async def test_an_older_version_fetches_the_room_and_what_it_holds_is_skipped(
    server: FakeServer,
) -> None:
    async with ann_hosts_bob(server) as (ann, _, room):
        await ann.set_ready(room.room_id)  # version 2
        events = ann.events()
        assert [e.version for e in await take(events, 2)] == [1, 2]
        user = user_of("Ann")
        late = event_frame("player_ready", room.room_id, 1, seat_index=0, user_id=user, ready=True)
        await server.push(late, connection=0)  # Ann's socket
        (synced,) = await take(events, 1)
        assert isinstance(synced, RoomSynced) and synced.version == 2
        # Still queued from before the snapshot: dropped, not a second fetch.
        await server.push(late, connection=0)
        marker = event_frame("player_disconnected", room.room_id, 2, seat_index=1, user_id=user)
        await server.push(marker, connection=0)
        (after,) = await take(events, 1)
    assert isinstance(after, PlayerDisconnected) and after.version == 2
    assert [f["type"] for _, f in server.frames].count("get_room") == 1


async def test_presence_events_share_the_version(server: FakeServer) -> None:
    async with connect(server, "Ann") as ann:
        room = await ann.create_room()
        events = ann.events()
        user = user_of("Ann")
        for _ in range(2):
            await server.push(
                event_frame("player_disconnected", room.room_id, 0, seat_index=0, user_id=user)
            )
        received = await take(events, 2)
    assert all(isinstance(e, PlayerDisconnected) for e in received)
    assert len(server.frames) == 1  # no get_room


async def test_unknown_and_malformed_frames_are_skipped_by_the_typed_iterator(
    server: FakeServer,
) -> None:
    async with connect(server, "Ann") as ann:
        room = await ann.create_room()
        events = ann.events()
        await server.push({"type": "something_newer", "payload": {}})
        await server.push("not json")
        await server.push({"type": "player_ready", "request_id": None, "payload": {"x": 1}})
        await server.push(event_frame("game_started", room.room_id, 1))
        (started,) = await take(events, 1)
    assert started == GameStarted(room.room_id, 1)


async def test_after_a_reconnection_each_room_is_fetched_and_yielded(server: FakeServer) -> None:
    async with ann_hosts_bob(server) as (ann, bob, room):
        events = bob.events()
        assert isinstance((await take(events, 1))[0], PlayerJoined)
        await server.sockets[1].close(1012)  # Bob's socket
        (synced,) = await take(events, 1)
        assert isinstance(synced, RoomSynced) and synced.room.seats[1].display_name == "Bob"
        await ann.set_ready(room.room_id)  # Bob's new socket follows the room
        (ready,) = await take(events, 1)
    assert isinstance(ready, PlayerReady) and ready.version == 2
    assert bob.connections == 2


async def test_a_room_that_is_gone_is_no_longer_followed_after_a_reconnection(
    server: FakeServer,
) -> None:
    async with ann_hosts_bob(server) as (ann, _, room):
        await ann.kick_player(room.room_id, 1)
        await server.sockets[1].close(1012)
        await server.wait_frames(4)  # Bob's get_room on the new socket: not_in_room
        await server.sockets[2].close(1012)
        await asyncio.sleep(0.2)
    assert [f["type"] for _, f in server.frames].count("get_room") == 1


# --- pieces without a socket ----------------------------------------------------------------


def test_versions_decide_deliver_drop_or_resync() -> None:
    room = uuid.uuid4()
    versions = Versions()
    assert versions.step(room, 3) is Step.DELIVER  # unknown room: the first one counts
    assert versions.step(room, 3) is Step.DELIVER  # another event of the same change
    assert versions.step(room, 4) is Step.DELIVER
    assert versions.step(room, 6) is Step.RESYNC
    assert versions.step(room, 2) is Step.RESYNC
    versions.created(room)  # does not go back
    assert versions.version(room) == 4


def test_events_parse_with_their_room_and_version() -> None:
    room, user = uuid.uuid4(), uuid.uuid4()
    frame = event_frame("player_left", room, 7, seat_index=2, user_id=str(user), reason="kicked")
    parsed = parse_event(RoomEvent("", frame))
    assert parsed == PlayerLeft(room, 7, 2, user, "kicked")
    assert parse_event(RoomEvent("", {"type": "other"})) is None
    with pytest.raises(ProtocolError):
        parse_event(RoomEvent("", event_frame("player_left", room, True, seat_index=2)))


def test_a_malformed_snapshot_is_a_protocol_error() -> None:
    payload = {"room_id": str(uuid.uuid4()), "seat_index": 1, "is_host": False, "room": {}}
    with pytest.raises(ProtocolError):
        JoinReply.from_reply(Reply("r", "join_room_ok", payload))
    with pytest.raises(ProtocolError, match="expected join_room_ok"):
        JoinReply.from_reply(Reply("r", "room", payload))
