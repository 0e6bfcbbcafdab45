"""The lobby's rules: who may change a room in which state, and what each change does.

``Room``'s lobby methods call these; they are here to keep ``model.py`` small.
Every rule takes a room and returns a :class:`Change`, or raises the refusal
that ``docs/protocol.md`` puts first among those that apply. A change adds
exactly 1 to ``version`` however many seats it touches (:func:`_bumped` is the
only place that writes it); a request that changes nothing returns the room as
it was, with no event.

Seats are kept in index order (``seats[i].index == i``), as ``Room.open``
makes them and the repositories load them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rooms_domain.errors import (
    NotHost,
    NotInRoom,
    NotReady,
    Problem,
    RoomFull,
    RoomInGame,
    RoomNotFound,
    SeatProblem,
    ValidationFailed,
)
from rooms_domain.events import (
    GameStarted,
    HostChanged,
    LeaveReason,
    LobbyEvent,
    PlayerJoined,
    PlayerLeft,
    PlayerReady,
    RoomClosed,
)
from rooms_domain.model import Readiness, Room, RoomStatus, Seat, SeatStatus, UserId

MIN_PLAYERS_TO_START = 2


@dataclass(frozen=True, slots=True)
class Change:
    """The room after a request, and what it tells the followers, in order."""

    room: Room
    events: tuple[LobbyEvent, ...] = ()

    @property
    def changed(self) -> bool:
        # Every change announces itself, so no event means nothing to store or publish.
        return bool(self.events)


def admit(
    room: Room, seat: Seat | None, *, member: bool = True, host: bool = False, open_: bool = False
) -> None:
    """Raise the first refusal that applies, in the one order of ``docs/protocol.md``.

    ``seat`` is the requester's seat (``None``: not seated); ``member``,
    ``host`` and ``open_`` say what the request needs.
    """
    if room.status is RoomStatus.CLOSED:
        raise RoomNotFound("no open room with that code or id")
    if (member or host) and seat is None:
        raise NotInRoom("you hold no seat in this room")
    if host and not (seat is not None and seat.is_host):
        raise NotHost("only the host may do this")
    if open_ and room.status is not RoomStatus.OPEN:
        raise RoomInGame("the room is in a game")


def seated(room: Room, user: UserId, *, host: bool = False, open_: bool = False) -> Seat:
    """The requester's seat, once :func:`admit` lets the request through."""
    seat = room.seat_of(user)
    admit(room, seat, host=host, open_=open_)
    assert seat is not None
    return seat


def join(room: Room, user: UserId, display_name: str | None) -> Change:
    seat = room.seat_of(user)
    # A user already seated rejoins, even in a game: their seat is theirs.
    admit(room, seat, member=False, open_=seat is None)
    if seat is not None:
        return Change(room)
    free = next((s for s in room.usable_seats if s.status is SeatStatus.EMPTY), None)
    if free is None:
        raise RoomFull("every seat is taken")
    taken = Seat(free.index, SeatStatus.OCCUPIED, user, False, Readiness.NOT_READY)
    after = _bumped(room, _with(room.seats, taken))
    return Change(
        after, (PlayerJoined(after.room_id, after.version, taken.index, user, display_name),)
    )


def leave(room: Room, user: UserId) -> Change:
    return _vacate(room, seated(room, user), user, LeaveReason.LEFT)


def release_held_seat(room: Room, user: UserId) -> Change:
    # A held seat runs out only while the room is open; in a game the game decides.
    return _vacate(room, seated(room, user, open_=True), user, LeaveReason.TIMEOUT)


def set_ready(room: Room, user: UserId, ready: bool) -> Change:
    seat = seated(room, user, open_=True)
    wanted = Readiness.READY if ready else Readiness.NOT_READY
    if seat.ready is wanted:
        return Change(room)
    after = _bumped(room, _with(room.seats, replace(seat, ready=wanted)))
    return Change(after, (PlayerReady(after.room_id, after.version, seat.index, user, ready),))


def kick(room: Room, host_user: UserId, seat_index: int) -> Change:
    host = seated(room, host_user, host=True, open_=True)
    # Judged after the room's state on purpose: a stranger learns nothing about the seats.
    usable = range(room.settings.max_players)
    if seat_index not in usable or seat_index == host.index:
        raise ValidationFailed(
            [
                Problem(
                    "seat_index",
                    f"must be another player's seat, {usable.start} to {usable.stop - 1}",
                )
            ]
        )
    target = room.seats[seat_index]
    if target.user_id is None:
        raise NotInRoom(f"nobody holds seat {seat_index}")
    return _vacate(room, target, target.user_id, LeaveReason.KICKED)


def start(room: Room, host_user: UserId) -> Change:
    seated(room, host_user, host=True, open_=True)
    usable = room.usable_seats
    occupied = [s for s in usable if s.status is SeatStatus.OCCUPIED]
    blocking = [
        SeatProblem(s.index, "not ready") for s in occupied if s.ready is not Readiness.READY
    ]
    if len(occupied) < MIN_PLAYERS_TO_START:
        blocking += [SeatProblem(s.index, "empty") for s in usable if s.status is SeatStatus.EMPTY]
    if blocking:
        raise NotReady.blocking(blocking)
    after = _bumped(room, room.seats, RoomStatus.IN_GAME)
    return Change(after, (GameStarted(after.room_id, after.version),))


def _vacate(room: Room, seat: Seat, user: UserId, reason: LeaveReason) -> Change:
    """Empty ``seat``; the lowest occupied seat inherits the host; no one left closes the room."""
    seats = _with(room.seats, Seat.empty(seat.index))
    heir = None
    if seat.is_host:
        heir = next((s for s in seats if s.status is SeatStatus.OCCUPIED), None)
        if heir is not None:
            seats = _with(seats, replace(heir, is_host=True))
    closing = all(s.status is SeatStatus.EMPTY for s in seats)
    after = _bumped(room, seats, RoomStatus.CLOSED if closing else room.status)
    events: list[LobbyEvent] = [PlayerLeft(after.room_id, after.version, seat.index, user, reason)]
    if heir is not None and heir.user_id is not None:
        events.append(HostChanged(after.room_id, after.version, heir.index, heir.user_id))
    if closing:
        events.append(RoomClosed(after.room_id, after.version))
    return Change(after, tuple(events))


def _with(seats: tuple[Seat, ...], seat: Seat) -> tuple[Seat, ...]:
    return (*seats[: seat.index], seat, *seats[seat.index + 1 :])


def _bumped(room: Room, seats: tuple[Seat, ...], status: RoomStatus | None = None) -> Room:
    return replace(room, seats=seats, status=status or room.status, version=room.version + 1)
