"""The lobby's rules on the model: join, leave, ready, kick, start, the held seat, and
which refusal wins when several apply (docs/protocol.md)."""

from __future__ import annotations

import uuid

import pytest

from rooms_domain import (
    Problem,
    Readiness,
    Room,
    RoomId,
    RoomsError,
    RoomStatus,
    SeatStatus,
    UserId,
    ValidationFailed,
)
from rooms_domain.errors import (
    NotHost,
    NotInRoom,
    NotReady,
    Refusal,
    RoomFull,
    RoomInGame,
    RoomNotFound,
    SeatProblem,
)
from rooms_domain.events import (
    GameStarted,
    HostChanged,
    LeaveReason,
    PlayerJoined,
    PlayerLeft,
    PlayerReady,
    RoomClosed,
)
from rooms_domain.lobby_rules import Change
from tests.contracts import support


def user() -> UserId:
    return UserId(uuid.uuid4())


def new_room(max_players: int = 4) -> tuple[Room, UserId]:
    host = user()
    return support.new_room(host, "AB12CD", max_players=max_players), host


def with_players(n: int, *, max_players: int = 4) -> tuple[Room, list[UserId]]:
    """A room whose seats 0..n-1 are taken, seat 0 by the host."""
    room, host = new_room(max_players)
    players = [host]
    for _ in range(n - 1):
        players.append(user())
        room = room.join(players[-1]).room
    return room, players


def all_ready(room: Room, players: list[UserId]) -> Room:
    for player in players:
        room = room.set_ready(player, True).room
    return room


def in_game(n: int = 2) -> tuple[Room, list[UserId]]:
    room, players = with_players(n)
    return all_ready(room, players).start(players[0]).room, players


def closed() -> tuple[Room, UserId]:
    room, host = new_room()
    return room.leave(host).room, host


def assert_unchanged(change: Change, room: Room) -> None:
    assert change.room is room
    assert change.events == ()
    assert not change.changed


# --- snapshot helpers ------------------------------------------------------------------------


def test_a_new_room_has_its_host_at_seat_0_and_one_occupant() -> None:
    room, host = new_room(max_players=3)
    assert room.host_seat == 0
    assert room.occupied_count == 1
    seat = room.seat_of(host)
    assert seat is not None and seat.index == 0
    assert room.seat_of(user()) is None
    assert [s.index for s in room.usable_seats] == [0, 1, 2]


# --- join ------------------------------------------------------------------------------------


def test_join_takes_the_lowest_empty_seat_occupied_not_ready_not_host() -> None:
    room, _ = new_room()
    guest = user()
    change = room.join(guest, "Bob")

    seat = change.room.seats[1]
    assert (seat.status, seat.user_id, seat.is_host, seat.ready) == (
        SeatStatus.OCCUPIED,
        guest,
        False,
        Readiness.NOT_READY,
    )
    assert change.room.version == room.version + 1
    assert change.events == (PlayerJoined(room.room_id, 1, 1, guest, "Bob"),)
    assert room.seats[1].status is SeatStatus.EMPTY  # the old room is untouched


def test_join_fills_a_seat_freed_below_the_others_first() -> None:
    room, players = with_players(3)
    room = room.leave(players[1]).room
    newcomer = user()
    seat = room.join(newcomer).room.seat_of(newcomer)
    assert seat is not None and seat.index == 1


def test_a_seated_user_rejoining_keeps_the_seat_and_changes_nothing() -> None:
    room, players = with_players(3)
    assert_unchanged(room.join(players[2]), room)


def test_a_seated_user_may_rejoin_a_room_in_game() -> None:
    room, players = in_game()
    assert_unchanged(room.join(players[1]), room)


def test_a_newcomer_cannot_join_a_room_in_game() -> None:
    room, _ = in_game()
    with pytest.raises(RoomInGame):
        room.join(user())


def test_a_full_room_is_refused_and_seats_beyond_max_players_stay_unused() -> None:
    room, _ = with_players(2, max_players=2)
    with pytest.raises(RoomFull):
        room.join(user())
    assert [s.status for s in room.seats[2:]] == [SeatStatus.EMPTY] * 2


def test_a_full_room_in_game_answers_room_in_game() -> None:
    room, players = with_players(2, max_players=2)
    room = all_ready(room, players).start(players[0]).room
    with pytest.raises(RoomInGame):
        room.join(user())


def test_a_closed_room_cannot_be_joined() -> None:
    room, host = closed()
    with pytest.raises(RoomNotFound):
        room.join(user())
    with pytest.raises(RoomNotFound):
        room.join(host)


# --- leave -----------------------------------------------------------------------------------


def test_a_guest_leaving_empties_the_seat_and_keeps_the_host() -> None:
    room, players = with_players(3)
    room = room.set_ready(players[1], True).room
    change = room.leave(players[1])

    assert change.room.seats[1] == room.seats[1].empty(1)
    assert change.room.seats[1].ready is Readiness.NOT_READY
    assert change.room.host_seat == 0
    assert change.room.status is RoomStatus.OPEN
    assert change.room.version == room.version + 1
    assert change.events == (
        PlayerLeft(room.room_id, room.version + 1, 1, players[1], LeaveReason.LEFT),
    )


def test_the_host_leaving_passes_the_host_to_the_lowest_occupied_seat() -> None:
    room, players = with_players(4)
    room = room.leave(players[1]).room
    change = room.leave(players[0])

    assert change.room.host_seat == 2
    assert [s.is_host for s in change.room.seats] == [False, False, True, False]
    version = room.version + 1
    assert change.room.version == version
    assert change.events == (
        PlayerLeft(room.room_id, version, 0, players[0], LeaveReason.LEFT),
        HostChanged(room.room_id, version, 2, players[2]),
    )


def test_the_last_player_leaving_closes_the_room_in_one_version() -> None:
    room, players = with_players(2)
    room = room.leave(players[0]).room
    change = room.leave(players[1])

    assert change.room.status is RoomStatus.CLOSED
    assert change.room.host_seat is None
    assert change.room.occupied_count == 0
    assert change.room.version == room.version + 1
    assert change.events == (
        PlayerLeft(room.room_id, room.version + 1, 1, players[1], LeaveReason.LEFT),
        RoomClosed(room.room_id, room.version + 1),
    )


def test_a_player_may_leave_a_room_in_game() -> None:
    room, players = in_game(3)
    change = room.leave(players[0])
    assert change.room.status is RoomStatus.IN_GAME
    assert change.room.host_seat == 1


def test_everyone_leaving_a_game_closes_it() -> None:
    room, players = in_game(2)
    room = room.leave(players[1]).room
    assert room.leave(players[0]).room.status is RoomStatus.CLOSED


def test_leaving_a_room_without_a_seat_is_refused() -> None:
    room, _ = new_room()
    with pytest.raises(NotInRoom):
        room.leave(user())


def test_leaving_a_closed_room_answers_room_not_found() -> None:
    room, host = closed()
    with pytest.raises(RoomNotFound):
        room.leave(host)


# --- the held seat ---------------------------------------------------------------------------


def test_a_held_seat_running_out_is_a_leave_with_reason_timeout() -> None:
    room, players = with_players(2)
    change = room.release_held_seat(players[0])
    assert change.room.host_seat == 1
    assert [type(e) for e in change.events] == [PlayerLeft, HostChanged]
    assert change.events[0] == PlayerLeft(
        room.room_id, room.version + 1, 0, players[0], LeaveReason.TIMEOUT
    )


def test_the_last_held_seat_running_out_closes_the_room() -> None:
    room, host = new_room()
    change = room.release_held_seat(host)
    assert change.room.status is RoomStatus.CLOSED
    assert [type(e) for e in change.events] == [PlayerLeft, RoomClosed]


def test_a_held_seat_in_game_is_kept() -> None:
    room, players = in_game()
    with pytest.raises(RoomInGame):
        room.release_held_seat(players[1])


# --- set_ready -------------------------------------------------------------------------------


def test_set_ready_changes_the_seat_and_says_so() -> None:
    room, players = with_players(2)
    change = room.set_ready(players[1], True)
    assert change.room.seats[1].ready is Readiness.READY
    assert change.room.version == room.version + 1
    assert change.events == (PlayerReady(room.room_id, room.version + 1, 1, players[1], True),)

    back = change.room.set_ready(players[1], False)
    assert back.room.seats[1].ready is Readiness.NOT_READY
    assert back.events == (PlayerReady(room.room_id, room.version + 2, 1, players[1], False),)


@pytest.mark.parametrize("ready", [False, True])
def test_set_ready_to_the_value_it_has_changes_nothing(ready: bool) -> None:
    room, players = with_players(2)
    if ready:
        room = room.set_ready(players[1], True).room
    assert_unchanged(room.set_ready(players[1], ready), room)


def test_set_ready_only_while_open() -> None:
    room, players = in_game()
    with pytest.raises(RoomInGame):
        room.set_ready(players[1], False)


# --- kick ------------------------------------------------------------------------------------


def test_the_host_kicks_a_player() -> None:
    room, players = with_players(3)
    change = room.kick(players[0], 2)
    assert change.room.seats[2].status is SeatStatus.EMPTY
    assert change.room.seat_of(players[2]) is None
    assert change.room.version == room.version + 1
    assert change.events == (
        PlayerLeft(room.room_id, room.version + 1, 2, players[2], LeaveReason.KICKED),
    )


def test_only_the_host_kicks() -> None:
    room, players = with_players(3)
    with pytest.raises(NotHost):
        room.kick(players[1], 2)


@pytest.mark.parametrize("seat_index", [-1, 3, 4, 99])
def test_a_kick_outside_the_usable_seats_is_a_validation_failure(seat_index: int) -> None:
    room, players = with_players(2, max_players=3)
    with pytest.raises(ValidationFailed) as failed:
        room.kick(players[0], seat_index)
    assert [p.field for p in failed.value.problems] == ["seat_index"]
    assert not isinstance(failed.value, Refusal)


def test_the_host_cannot_kick_their_own_seat() -> None:
    room, players = with_players(2)
    room = room.leave(players[0]).room  # the host is now at seat 1
    other = user()
    room = room.join(other).room
    with pytest.raises(ValidationFailed) as failed:
        room.kick(players[1], 1)
    assert failed.value.problems == (
        Problem("seat_index", "must be another player's seat, 0 to 3"),
    )


def test_kicking_an_empty_usable_seat_is_not_in_room() -> None:
    room, players = with_players(2)
    with pytest.raises(NotInRoom):
        room.kick(players[0], 3)


# --- start -----------------------------------------------------------------------------------


def test_the_host_starts_when_two_or_more_are_seated_and_all_ready() -> None:
    room, players = with_players(3)
    room = all_ready(room, players)
    change = room.start(players[0])
    assert change.room.status is RoomStatus.IN_GAME
    assert change.room.seats == room.seats
    assert change.room.version == room.version + 1
    assert change.events == (GameStarted(room.room_id, room.version + 1),)


def test_start_names_every_seat_not_ready() -> None:
    room, players = with_players(4)
    room = room.set_ready(players[0], True).room.set_ready(players[2], True).room
    with pytest.raises(NotReady) as refused:
        room.start(players[0])
    assert refused.value.seats == (SeatProblem(1, "not ready"), SeatProblem(3, "not ready"))


@pytest.mark.parametrize(
    ("max_players", "host_ready", "details"),
    [
        (4, False, [(0, "not ready"), (1, "empty"), (2, "empty"), (3, "empty")]),
        (4, True, [(1, "empty"), (2, "empty"), (3, "empty")]),
        (2, True, [(1, "empty")]),
    ],
)
def test_a_host_alone_cannot_start_and_the_empty_usable_seats_are_named(
    max_players: int, host_ready: bool, details: list[tuple[int, str]]
) -> None:
    room, host = new_room(max_players)
    room = room.set_ready(host, host_ready).room
    with pytest.raises(NotReady) as refused:
        room.start(host)
    assert refused.value.seats == tuple(SeatProblem(i, p) for i, p in details)


def test_with_two_seated_the_empty_seats_do_not_block() -> None:
    room, players = with_players(2)
    room = room.set_ready(players[0], True).room
    with pytest.raises(NotReady) as refused:
        room.start(players[0])
    assert refused.value.seats == (SeatProblem(1, "not ready"),)


def test_only_the_host_starts_and_only_once() -> None:
    room, players = with_players(2)
    room = all_ready(room, players)
    with pytest.raises(NotHost):
        room.start(players[1])
    room = room.start(players[0]).room
    with pytest.raises(RoomInGame):
        room.start(players[0])


# --- which refusal wins ----------------------------------------------------------------------

PRECEDENCE = [RoomNotFound, NotInRoom, NotHost, RoomInGame]
# What each request needs of the requester and the room, as docs/protocol.md lists it.
NEEDS = {
    "leave": {NotInRoom},
    "set_ready": {NotInRoom, RoomInGame},
    "kick": {NotInRoom, NotHost, RoomInGame},
    "start": {NotInRoom, NotHost, RoomInGame},
    "release_held_seat": {NotInRoom, RoomInGame},
}


def _request(room: Room, name: str, who: UserId) -> Change:
    if name == "leave":
        return room.leave(who)
    if name == "set_ready":
        return room.set_ready(who, True)
    if name == "release_held_seat":
        return room.release_held_seat(who)
    if name == "kick":
        return room.kick(who, 99)  # also a validation failure: judged after all of these
    return room.start(who)  # also not_ready: judged after all of these


@pytest.mark.parametrize("request_name", sorted(NEEDS))
@pytest.mark.parametrize("status", ["open", "in_game", "closed"])
@pytest.mark.parametrize("requester", ["stranger", "guest", "host"])
def test_the_first_broken_rule_in_the_documented_order_is_the_answer(
    request_name: str, status: str, requester: str
) -> None:
    if status == "closed":
        room, host = closed()
        players = [host, user()]
    elif status == "in_game":
        room, players = in_game(2)
    else:
        room, players = with_players(2)
    who = {"stranger": user(), "guest": players[1], "host": players[0]}[requester]

    broken = set()
    if status == "closed":
        broken.add(RoomNotFound)
    if requester == "stranger" or status == "closed":
        broken |= {NotInRoom, NotHost}
    if requester == "guest":
        broken.add(NotHost)
    if status != "open":
        broken.add(RoomInGame)
    broken &= NEEDS[request_name] | {RoomNotFound}
    expected = next((e for e in PRECEDENCE if e in broken), None)

    if expected is None:
        rest = {"kick": ValidationFailed, "start": NotReady}.get(request_name)
        if rest is None:
            assert _request(room, request_name, who).changed
        else:
            with pytest.raises(rest):
                _request(room, request_name, who)
    else:
        with pytest.raises(RoomsError) as refused:
            _request(room, request_name, who)
        assert type(refused.value) is expected


def test_a_kick_checks_the_seat_index_before_whether_the_seat_is_empty() -> None:
    room, players = with_players(2, max_players=2)
    with pytest.raises(ValidationFailed):
        room.kick(players[0], 3)  # an empty seat, but not a usable one


# --- errors and events -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        RoomNotFound("x"),
        NotInRoom("x"),
        NotHost("x"),
        RoomInGame("x"),
        RoomFull("x"),
        NotReady.blocking([SeatProblem(0, "empty")]),
    ],
)
def test_every_refusal_by_the_room_is_a_rooms_error(error: Refusal) -> None:
    assert isinstance(error, RoomsError)


def test_not_ready_lists_its_seats_by_index() -> None:
    error = NotReady.blocking([SeatProblem(2, "empty"), SeatProblem(0, "not ready")])
    assert [d.seat_index for d in error.seats] == [0, 2]
    assert str(error) == "seat 0: not ready; seat 2: empty"


def test_every_event_payload_carries_the_room_and_its_version_first() -> None:
    room_id, who = RoomId(uuid.uuid4()), user()
    payloads = {
        e.type: e.to_payload()
        for e in [
            PlayerJoined(room_id, 3, 1, who, "Bob"),
            PlayerLeft(room_id, 3, 1, who, LeaveReason.KICKED),
            HostChanged(room_id, 3, 1, who),
            PlayerReady(room_id, 3, 1, who, True),
            GameStarted(room_id, 3),
            RoomClosed(room_id, 3),
        ]
    }
    base = {"room_id": str(room_id), "version": 3}
    seat = {"seat_index": 1, "user_id": str(who)}
    assert payloads == {
        "player_joined": {**base, **seat, "display_name": "Bob"},
        "player_left": {**base, **seat, "reason": "kicked"},
        "host_changed": {**base, **seat},
        "player_ready": {**base, **seat, "ready": True},
        "game_started": base,
        "room_closed": {**base, "reason": "empty"},
    }
    assert all(list(p)[:2] == ["room_id", "version"] for p in payloads.values())
