"""The lobby's use cases with the in-memory adapters: idempotency, stored refusals,
validation that is not stored, the refusal order, one version per change, the live step."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from rooms_adapters.memory import (
    MemoryDatabase,
    MemoryLiveStateCache,
    MemoryUnitOfWorkFactory,
)
from rooms_adapters.memory_presence import MemoryPresence
from rooms_domain import (
    CreateRoom,
    GetRoom,
    GetRoomCommand,
    IdempotencyKeyReused,
    JoinRoom,
    JoinRoomCommand,
    KickPlayer,
    KickPlayerCommand,
    LeaveRoom,
    LeaveRoomCommand,
    LiveStateFailure,
    ReplyKind,
    RequestId,
    RequestKey,
    RoomId,
    RoomStatus,
    SecureCodeGenerator,
    SetReady,
    SetReadyCommand,
    StartGame,
    StartGameCommand,
    UserId,
    ValidationFailed,
)
from rooms_domain.errors import NotHost, NotInRoom, NotReady, RoomFull, RoomInGame, RoomNotFound
from tests.unit.harness import NOW_MS, FixedClock, command, new_request_id


@dataclass
class Lobby:
    db: MemoryDatabase
    cache: MemoryLiveStateCache
    create: CreateRoom
    join: JoinRoom
    leave: LeaveRoom
    ready: SetReady
    kick: KickPlayer
    start: StartGame
    get: GetRoom
    presence: MemoryPresence
    names: dict[UserId, str] = field(default_factory=dict)

    def user(self, name: str) -> UserId:
        user_id = UserId(uuid.uuid4())
        self.db.add_user(user_id, name)
        return user_id

    async def room(self, host: UserId, max_players: int = 4) -> tuple[RoomId, str]:
        ok = await self.create(command(host, max_players=max_players))
        return ok.room_id, str(ok.code)

    def stored(self, user: UserId, request_id: RequestId) -> Any:
        return self.db.idempotency.get(RequestKey(user, request_id))

    async def refused_and_stored(
        self, error: type[Exception], use_case: Callable[[Any], Awaitable[object]], cmd: Any
    ) -> None:
        """``use_case`` refuses ``cmd`` with ``error``, and keeps the refusal for replays."""
        with pytest.raises(error):
            await use_case(cmd)
        assert self.stored(cmd.user_id, cmd.request_id).reply.kind is ReplyKind.REFUSAL

    def version(self, room_id: RoomId) -> int:
        return self.db.rooms[room_id].version

    def events(self) -> list[str]:
        return [str(frame["type"]) for _, frame in self.cache.published]


def make_lobby(
    *,
    lock_wait_s: float = 0.5,
    live_state_timeout_s: float = 0.05,
    presence_timeout_s: float = 30.0,
    clock: FixedClock | None = None,
) -> Lobby:
    db = MemoryDatabase(lock_wait_s=lock_wait_s)
    factory = MemoryUnitOfWorkFactory(db)
    cache = MemoryLiveStateCache()
    clock = clock if clock is not None else FixedClock()
    presence = MemoryPresence(cache, timeout_s=presence_timeout_s)

    def deps() -> dict[str, Any]:
        return {
            "uow_factory": factory,
            "live_state": cache,
            "clock": clock,
            "live_state_timeout_s": live_state_timeout_s,
            "presence": presence,
        }

    create = CreateRoom(
        uow_factory=factory,
        codes=SecureCodeGenerator(),
        live_state=cache,
        clock=clock,
        live_state_timeout_s=live_state_timeout_s,
    )
    return Lobby(
        db,
        cache,
        create,
        JoinRoom(**deps()),
        LeaveRoom(**deps()),
        SetReady(**deps()),
        KickPlayer(**deps()),
        StartGame(**deps()),
        GetRoom(**deps()),
        presence,
    )


def join(user: UserId, code: str, request_id: RequestId | None = None) -> JoinRoomCommand:
    return JoinRoomCommand.from_payload(user, request_id or new_request_id(), {"code": code})


def on_room(cls: Any, user: UserId, room_id: RoomId, **payload: object) -> Any:
    return cls.from_payload(user, new_request_id(), {"room_id": str(room_id), **payload})


# --- join_room -----------------------------------------------------------------------------


async def test_join_takes_the_lowest_empty_seat_and_answers_with_the_snapshot() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host)

    reply = await lobby.join(join(bob, code))

    assert (reply["room_id"], reply["seat_index"], reply["is_host"]) == (str(room_id), 1, False)
    assert reply["version"] == 1 == lobby.version(room_id)
    seats = reply["room"]["seats"]
    assert [s["display_name"] for s in seats] == ["Ann", "Bob", None, None]
    assert reply["room"]["host_seat"] == 0
    assert lobby.events() == ["player_joined"]
    view = lobby.cache.views[room_id]
    assert view.meta["version"] == "1" and '"Bob"' in view.seats["seat:1"]


async def test_join_reads_a_code_as_people_type_it() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host)
    typed = f" {code[:3].lower()}-{code[3:].lower()} ".replace("1", "l").replace("0", "o")

    reply = await lobby.join(join(bob, typed))

    assert reply["room_id"] == str(room_id)


@pytest.mark.parametrize("code", ["", "ABCDE", "ABCDEFG", "ABCDEU", "ÄBCDEF", 123456, None])
def test_a_code_that_is_no_code_is_validation_failed(code: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        JoinRoomCommand.from_payload(UserId(uuid.uuid4()), new_request_id(), {"code": code})
    assert [p.field for p in caught.value.problems] == ["code"]


async def test_a_join_replayed_gives_the_same_reply_and_writes_nothing() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host)
    cmd = join(bob, code)

    first = await lobby.join.run(cmd)
    again = await lobby.join.run(cmd)

    assert again.payload == first.payload and again.replayed and again.member
    assert lobby.version(room_id) == 1
    assert lobby.events() == ["player_joined"]


async def test_a_request_id_reused_for_another_code_is_refused() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    _, code = await lobby.room(host)
    _, other = await lobby.room(host)
    request_id = new_request_id()
    await lobby.join(join(bob, code, request_id))

    with pytest.raises(IdempotencyKeyReused):
        await lobby.join(join(bob, other, request_id))


async def test_the_same_code_typed_differently_is_the_same_request() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    _, code = await lobby.room(host)
    request_id = new_request_id()
    first = await lobby.join.run(join(bob, code, request_id))

    again = await lobby.join.run(join(bob, code.lower(), request_id))

    assert again.replayed and again.payload == first.payload


async def test_a_rejoin_is_the_seat_held_with_no_change() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host)
    await lobby.join(join(bob, code))
    # Ann's socket follows the room: the rebuilt view shows her connected.
    await lobby.presence.beat("here", NOW_MS)
    await lobby.presence.connect(room_id, host, "here", NOW_MS)
    del lobby.cache.views[room_id]  # a lost live view, repaired by the rejoin

    reply = await lobby.join(join(bob, code))

    assert reply["seat_index"] == 1 and lobby.version(room_id) == 1
    assert lobby.events() == ["player_joined"]
    assert lobby.cache.views[room_id].meta["version"] == "1"


async def test_a_full_room_refuses_and_the_refusal_is_stored_and_replayed() -> None:
    lobby = make_lobby()
    host = lobby.user("Ann")
    room_id, code = await lobby.room(host, max_players=2)
    await lobby.join(join(lobby.user("Bob"), code))
    carl = lobby.user("Carl")
    cmd = join(carl, code)

    with pytest.raises(RoomFull) as first:
        await lobby.join(cmd)
    # A seat frees up; the stored refusal is still the answer to this request.
    await lobby.leave(on_room(LeaveRoomCommand, host, room_id))
    with pytest.raises(RoomFull) as again:
        await lobby.join(cmd)

    assert again.value == first.value
    assert lobby.stored(carl, cmd.request_id).reply.kind is ReplyKind.REFUSAL
    assert lobby.db.rooms[room_id].seat_of(carl) is None


async def test_an_unknown_code_is_room_not_found_and_stored() -> None:
    lobby = make_lobby()
    bob = lobby.user("Bob")
    cmd = join(bob, "ZZZZZZ")

    await lobby.refused_and_stored(RoomNotFound, lobby.join, cmd)


async def test_a_room_in_game_refuses_newcomers_but_not_its_players() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host)
    await lobby.join(join(bob, code))
    for user in (host, bob):
        await lobby.ready(on_room(SetReadyCommand, user, room_id, ready=True))
    await lobby.start(on_room(StartGameCommand, host, room_id))

    with pytest.raises(RoomInGame):
        await lobby.join(join(lobby.user("Carl"), code))
    assert (await lobby.join(join(bob, code)))["seat_index"] == 1


async def test_fifty_joins_at_once_fill_the_room_exactly() -> None:
    lobby = make_lobby(lock_wait_s=5.0)
    host = lobby.user("Ann")
    room_id, code = await lobby.room(host)
    users = [lobby.user(f"P{i}") for i in range(50)]

    results = await asyncio.gather(
        *(lobby.join(join(u, code)) for u in users), return_exceptions=True
    )

    won = [r for r in results if isinstance(r, dict)]
    assert len(won) == 3
    assert all(isinstance(r, RoomFull) for r in results if not isinstance(r, dict))
    room = lobby.db.rooms[room_id]
    assert room.version == 3 and room.occupied_count == 4
    assert sorted(r["seat_index"] for r in won) == [1, 2, 3]


# --- leave_room ----------------------------------------------------------------------------


async def test_the_host_leaving_passes_the_host_on_and_the_last_leave_closes() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host)
    await lobby.join(join(bob, code))

    left = await lobby.leave.run(on_room(LeaveRoomCommand, host, room_id))
    assert left.payload == {"room_id": str(room_id), "version": 2} and not left.member
    assert lobby.db.rooms[room_id].host_seat == 1
    await lobby.leave(on_room(LeaveRoomCommand, bob, room_id))

    assert lobby.db.rooms[room_id].status is RoomStatus.CLOSED
    assert lobby.version(room_id) == 3
    assert lobby.events() == [
        "player_joined",
        "player_left",
        "host_changed",
        "player_left",
        "room_closed",
    ]
    assert room_id not in lobby.cache.views and room_id in lobby.cache.closed
    with pytest.raises(RoomNotFound):
        await lobby.join(join(lobby.user("Carl"), code))


async def test_leaving_a_room_one_is_not_in_is_not_in_room() -> None:
    lobby = make_lobby()
    room_id, _ = await lobby.room(lobby.user("Ann"))
    with pytest.raises(NotInRoom):
        await lobby.leave(on_room(LeaveRoomCommand, lobby.user("Bob"), room_id))
    with pytest.raises(RoomNotFound):
        await lobby.leave(on_room(LeaveRoomCommand, lobby.user("Bob"), RoomId(uuid.uuid4())))


# --- set_ready ---------------------------------------------------------------------------


async def test_ready_twice_is_one_change_and_the_second_still_stores_its_reply() -> None:
    lobby = make_lobby()
    host = lobby.user("Ann")
    room_id, _ = await lobby.room(host)

    first = await lobby.ready(on_room(SetReadyCommand, host, room_id, ready=True))
    cmd = on_room(SetReadyCommand, host, room_id, ready=True)
    second = await lobby.ready(cmd)

    assert (
        first == second == {"room_id": str(room_id), "seat_index": 0, "ready": True, "version": 1}
    )
    assert lobby.version(room_id) == 1 and lobby.events() == ["player_ready"]
    assert lobby.stored(host, cmd.request_id).reply.kind is ReplyKind.SUCCESS


def test_ready_must_be_a_boolean() -> None:
    with pytest.raises(ValidationFailed):
        SetReadyCommand.from_payload(
            UserId(uuid.uuid4()), new_request_id(), {"room_id": str(uuid.uuid4()), "ready": 1}
        )


# --- kick_player -------------------------------------------------------------------------


async def test_the_host_kicks_a_player() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host)
    await lobby.join(join(bob, code))

    reply = await lobby.kick(on_room(KickPlayerCommand, host, room_id, seat_index=1))

    assert reply == {"room_id": str(room_id), "seat_index": 1, "version": 2}
    assert lobby.db.rooms[room_id].seat_of(bob) is None
    assert lobby.cache.published[-1][1]["payload"]["reason"] == "kicked"  # type: ignore[index]


async def test_a_seat_index_of_the_wrong_type_is_validation_failed_first() -> None:
    with pytest.raises(ValidationFailed):
        KickPlayerCommand.from_payload(
            UserId(uuid.uuid4()),
            new_request_id(),
            {"room_id": str(uuid.uuid4()), "seat_index": "1"},
        )


async def test_a_seat_index_out_of_range_is_judged_after_the_room_and_not_stored() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host, max_players=2)
    await lobby.join(join(bob, code))

    # The room's state comes first: a non-host is told so, whatever the index.
    with pytest.raises(NotHost):
        await lobby.kick(on_room(KickPlayerCommand, bob, room_id, seat_index=7))
    cmd = on_room(KickPlayerCommand, host, room_id, seat_index=2)  # beyond max_players
    with pytest.raises(ValidationFailed):
        await lobby.kick(cmd)
    assert lobby.stored(host, cmd.request_id) is None
    with pytest.raises(ValidationFailed):  # the host's own seat
        await lobby.kick(on_room(KickPlayerCommand, host, room_id, seat_index=0))
    assert lobby.version(room_id) == 1 and lobby.db.held_keys == set()


async def test_kicking_an_empty_seat_is_not_in_room_and_stored() -> None:
    lobby = make_lobby()
    host = lobby.user("Ann")
    room_id, _ = await lobby.room(host)
    cmd = on_room(KickPlayerCommand, host, room_id, seat_index=3)

    await lobby.refused_and_stored(NotInRoom, lobby.kick, cmd)


# --- start_game --------------------------------------------------------------------------


async def test_start_needs_two_ready_players_and_names_the_blocking_seats() -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host, max_players=3)
    await lobby.ready(on_room(SetReadyCommand, host, room_id, ready=True))

    with pytest.raises(NotReady) as alone:
        await lobby.start(on_room(StartGameCommand, host, room_id))
    assert [d["problem"] for d in alone.value.details] == ["empty", "empty"]
    await lobby.join(join(bob, code))
    with pytest.raises(NotInRoom):
        await lobby.start(on_room(StartGameCommand, lobby.user("Eve"), room_id))
    with pytest.raises(NotHost):
        await lobby.start(on_room(StartGameCommand, bob, room_id))
    await lobby.ready(on_room(SetReadyCommand, bob, room_id, ready=True))

    reply = await lobby.start(on_room(StartGameCommand, host, room_id))

    assert reply == {"room_id": str(room_id), "version": 4}
    assert lobby.db.rooms[room_id].status is RoomStatus.IN_GAME
    assert lobby.events()[-1] == "game_started"
    with pytest.raises(RoomInGame):
        await lobby.ready(on_room(SetReadyCommand, bob, room_id, ready=False))


# --- get_room ----------------------------------------------------------------------------


async def test_get_room_is_for_members_and_writes_nothing_durable() -> None:
    lobby = make_lobby()
    host = lobby.user("Ann")
    room_id, _ = await lobby.room(host)
    del lobby.cache.views[room_id]
    cmd = on_room(GetRoomCommand, host, room_id)

    outcome = await lobby.get.run(cmd)

    assert outcome.payload["room"]["room_id"] == str(room_id) and outcome.member
    assert outcome.payload["room"]["seats"][0]["connected"] is True
    assert lobby.stored(host, cmd.request_id) is None and lobby.version(room_id) == 0
    assert lobby.cache.views[room_id].meta["version"] == "0"  # repaired
    with pytest.raises(NotInRoom):
        await lobby.get(on_room(GetRoomCommand, lobby.user("Eve"), room_id))
    with pytest.raises(RoomNotFound):
        await lobby.get(on_room(GetRoomCommand, host, RoomId(uuid.uuid4())))


# --- the live step -----------------------------------------------------------------------


async def test_a_failing_or_hanging_live_view_still_answers() -> None:
    lobby = make_lobby()
    host, bob, carl = lobby.user("Ann"), lobby.user("Bob"), lobby.user("Carl")
    room_id, code = await lobby.room(host)

    lobby.cache.fail_with = LiveStateFailure("redis down")
    failed = await lobby.join.run(join(bob, code))
    lobby.cache.fail_with, lobby.cache.hang = None, True
    hung = await asyncio.wait_for(lobby.join.run(join(carl, code)), timeout=10)

    assert failed.live_state_missed and hung.live_state_missed
    assert lobby.version(room_id) == 2


async def test_a_join_while_the_live_view_fails_is_logged_and_repaired_by_get_room(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lobby = make_lobby()
    host, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(host)
    lobby.cache.fail_with = LiveStateFailure("redis down")

    with caplog.at_level(logging.WARNING, logger="rooms_domain.lobby"):
        joined = await lobby.join.run(join(bob, code))

    assert joined.payload["seat_index"] == 1 and joined.live_state_missed
    (record,) = caplog.records
    assert record.getMessage().startswith(f"live state not written for room {room_id}")
    assert record.exc_info is None  # an outage the adapter declared: one brief line
    assert lobby.cache.views[room_id].meta["version"] == "0"  # stale
    lobby.cache.fail_with = None
    await lobby.get(on_room(GetRoomCommand, bob, room_id))
    assert lobby.cache.views[room_id].meta["version"] == "1"
    assert '"Bob"' in lobby.cache.views[room_id].seats["seat:1"]
