"""The lobby's invariants under any sequence of requests from a handful of users.

Whatever the order of joins, leaves, kicks, ready toggles, starts and held seats
running out: at most ``max_players`` seats are occupied and only usable ones, no
user holds two seats, exactly one host while anyone is seated and none once
closed, closed exactly when nobody is seated, and ``version`` goes up by exactly
1 with each change (every event carrying it) and not at all otherwise.
"""

from __future__ import annotations

import uuid

from hypothesis import event, given, settings
from hypothesis import strategies as st

from rooms_domain import (
    Room,
    RoomId,
    RoomsError,
    RoomStatus,
    SeatStatus,
    UserId,
    ValidationFailed,
)
from rooms_domain.errors import Refusal, RoomNotFound
from rooms_domain.events import HostChanged, PlayerLeft, RoomClosed
from rooms_domain.lobby_rules import Change
from tests.contracts.support import new_room

USERS = [UserId(uuid.UUID(int=i + 1)) for i in range(6)]  # USERS[0] creates the room
# Repeats weight the draw: with leaves as likely as joins, most rooms close before a start.
VERBS = ["join"] * 4 + ["ready", "all ready", "start", "kick"] * 2 + ["leave", "unready", "timeout"]
# "who" 0-5 is that user, seated or not; 6-8 one of the seated users, 9-11 the host: a room
# that strangers' requests alone fill would seldom be readied, started or kicked.
steps = st.tuples(st.sampled_from(VERBS), st.integers(0, len(USERS) + 5), st.integers(-1, 4))


def _who(room: Room, who: int) -> UserId:
    seated = [s.user_id for s in room.seats if s.user_id is not None]
    host = room.host_seat
    if who < len(USERS) or not seated or host is None:
        return USERS[who % len(USERS)]
    if who < len(USERS) + 3:
        return seated[who % len(seated)]
    return seated[[s.index for s in room.seats if s.user_id is not None].index(host)]


def _apply(room: Room, verb: str, who: UserId, seat_index: int) -> Change:
    if verb == "join":
        return room.join(who, "name")
    if verb == "leave":
        return room.leave(who)
    if verb in ("ready", "unready"):
        return room.set_ready(who, verb == "ready")
    if verb == "kick":
        return room.kick(who, seat_index)
    if verb == "start":
        return room.start(who)
    return room.release_held_seat(who)


def _attempt(room: Room, verb: str, who: UserId, seat_index: int) -> Change | RoomsError:
    try:
        return _apply(room, verb, who, seat_index)
    except (Refusal, ValidationFailed) as refused:
        return refused


def _check_invariants(room: Room) -> None:
    occupied = [s for s in room.seats if s.status is SeatStatus.OCCUPIED]
    assert len(occupied) <= room.settings.max_players
    assert all(s.index < room.settings.max_players for s in occupied)
    assert len({s.user_id for s in occupied}) == len(occupied)
    assert all(s.user_id is not None for s in occupied)
    assert all(
        s.user_id is None and not s.is_host for s in room.seats if s.status is SeatStatus.EMPTY
    )
    hosts = [s for s in room.seats if s.is_host]
    assert len(hosts) == (1 if occupied else 0)
    assert all(s.status is SeatStatus.OCCUPIED for s in hosts)
    assert (room.status is RoomStatus.CLOSED) == (not occupied)


def _check_change(before: Room, change: Change) -> None:
    after = change.room
    if not change.changed:
        assert after == before
        return
    assert after.version == before.version + 1
    assert all(e.room_id == before.room_id and e.version == after.version for e in change.events)
    left = [e.seat_index for e in change.events if isinstance(e, PlayerLeft)]
    if before.host_seat in left:
        # The host left: the lowest occupied seat took over, or nobody was left.
        occupied = [s.index for s in after.seats if s.status is SeatStatus.OCCUPIED]
        assert after.host_seat == (min(occupied) if occupied else None)
        assert any(isinstance(e, HostChanged | RoomClosed) for e in change.events)
    else:
        assert after.host_seat == before.host_seat


@settings(max_examples=300)
@given(
    max_players=st.integers(2, 4),
    players=st.integers(0, 3),
    script=st.lists(steps, max_size=60),
)
def test_any_sequence_of_requests_keeps_the_lobby_consistent(
    max_players: int, players: int, script: list[tuple[str, int, int]]
) -> None:
    """``players`` > 0: that many join, all ready, and the host starts, before the script."""
    room = new_room(USERS[0], "AB12CD", max_players=max_players, room_id=RoomId(uuid.UUID(int=99)))
    _check_invariants(room)
    if players:
        # Random scripts seldom reach a game on their own; this prefix makes half of them start
        # in one, where leaves, rejoins and refusals follow other rules.
        prefix = [("join", i, 0) for i in range(1, players + 1)] + [("all ready", 0, 0)]
        script = [*prefix, ("start", len(USERS) + 3, 0), *script]
    for verb, who, seat_index in script:
        if verb == "all ready":
            # Each seated user readies in turn: one request each, checked like any other.
            for seat in room.seats:
                if seat.user_id is not None:
                    room = _step(room, "ready", seat.user_id, 0)
        else:
            room = _step(room, verb, _who(room, who), seat_index)


def _step(room: Room, verb: str, who: UserId, seat_index: int) -> Room:
    change = _attempt(room, verb, who, seat_index)
    if not isinstance(change, Change):
        event(f"{verb}: {type(change).__name__}")
        # Once closed, a room stays closed and answers nothing else.
        assert isinstance(change, RoomNotFound) == (room.status is RoomStatus.CLOSED)
        return room
    event(f"{verb}: {'changed' if change.changed else 'no change'}")
    _check_change(room, change)
    _check_invariants(change.room)
    return change.room
