"""The lobby's replies (``docs/protocol.md``, requests), typed: frames in, values out.

Every reader checks the JSON type of each field it uses and raises
:class:`ProtocolError` on anything else; fields it does not use are ignored,
so a newer server may add some.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from rooms_client.errors import ProtocolError
from rooms_client.protocol import Reply

__all__ = [
    "GET_ROOM",
    "JOIN_ROOM",
    "KICK_PLAYER",
    "LEAVE_ROOM",
    "SET_READY",
    "START_GAME",
    "JoinRoomOk",
    "KickPlayerOk",
    "LeaveRoomOk",
    "Room",
    "Seat",
    "SetReadyOk",
    "StartGameOk",
    "read_room",
]

JOIN_ROOM = "join_room"
LEAVE_ROOM = "leave_room"
SET_READY = "set_ready"
KICK_PLAYER = "kick_player"
START_GAME = "start_game"
GET_ROOM = "get_room"


class Fields:
    """Typed access to one JSON object; every miss is a :class:`ProtocolError`."""

    __slots__ = ("_value", "_what")

    def __init__(self, value: object, what: str) -> None:
        if not isinstance(value, dict):
            raise ProtocolError(f"malformed {what}: {value!r}")
        self._value: dict[str, Any] = value
        self._what = what

    def _get(self, name: str, kind: type) -> Any:
        value = self._value.get(name)
        # bool is an int in Python, never in JSON: an int field refuses true/false.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProtocolError(f"malformed {self._what}: {name}={value!r}")
        return value

    def text(self, name: str) -> str:
        return str(self._get(name, str))

    def integer(self, name: str) -> int:
        return int(self._get(name, int))

    def flag(self, name: str) -> bool:
        return bool(self._get(name, bool))

    def uid(self, name: str) -> uuid.UUID:
        try:
            return uuid.UUID(self.text(name))
        except ValueError as exc:
            raise ProtocolError(f"malformed {self._what}: {name} is not a UUID") from exc

    def optional_integer(self, name: str) -> int | None:
        return None if self._value.get(name) is None else self.integer(name)

    def optional_text(self, name: str) -> str | None:
        return None if self._value.get(name) is None else self.text(name)

    def optional_uid(self, name: str) -> uuid.UUID | None:
        return None if self._value.get(name) is None else self.uid(name)

    def obj(self, name: str) -> dict[str, Any]:
        return dict(self._get(name, dict))

    def array(self, name: str) -> list[Any]:
        return list(self._get(name, list))


@dataclass(frozen=True, slots=True)
class Seat:
    """One seat of a snapshot; an empty one has no user and every flag false."""

    seat_index: int
    occupied: bool
    user_id: uuid.UUID | None
    display_name: str | None
    is_host: bool
    ready: bool
    connected: bool

    @classmethod
    def read(cls, raw: object) -> Seat:
        f = Fields(raw, "seat")
        status = f.text("status")
        if status not in ("empty", "occupied"):
            raise ProtocolError(f"malformed seat: status={status!r}")
        return cls(
            f.integer("seat_index"),
            status == "occupied",
            f.optional_uid("user_id"),
            f.optional_text("display_name"),
            f.flag("is_host"),
            f.flag("ready"),
            f.flag("connected"),
        )


@dataclass(frozen=True, slots=True)
class Room:
    """The whole lobby as one object: the ``room`` of a snapshot."""

    room_id: uuid.UUID
    code: str
    status: str  # "open", "in_game" or "closed"
    visibility: str
    max_players: int
    ruleset_id: str
    ruleset_config: dict[str, Any]
    version: int
    host_seat: int | None
    seats: tuple[Seat, ...]  # max_players entries, by index

    @classmethod
    def read(cls, raw: object) -> Room:
        f = Fields(raw, "room")
        return cls(
            f.uid("room_id"),
            f.text("code"),
            f.text("status"),
            f.text("visibility"),
            f.integer("max_players"),
            f.text("ruleset_id"),
            f.obj("ruleset_config"),
            f.integer("version"),
            f.optional_integer("host_seat"),
            tuple(Seat.read(seat) for seat in f.array("seats")),
        )

    def seat_of(self, user_id: uuid.UUID) -> Seat | None:
        return next((s for s in self.seats if s.occupied and s.user_id == user_id), None)


def _payload(reply: Reply, expected: str) -> Fields:
    if reply.type != expected:
        raise ProtocolError(f"expected {expected}, got {reply.type!r}")
    return Fields(reply.payload, f"{expected} payload")


def read_room(reply: Reply) -> Room:
    """The snapshot of a ``room`` reply (to ``get_room``)."""
    return Room.read(_payload(reply, "room").obj("room"))


@dataclass(frozen=True, slots=True)
class JoinRoomOk:
    """``join_room_ok``: the caller's seat and the room as it is after the join."""

    room_id: uuid.UUID
    seat_index: int
    is_host: bool
    room: Room

    @classmethod
    def from_reply(cls, reply: Reply) -> JoinRoomOk:
        f = _payload(reply, "join_room_ok")
        return cls(
            f.uid("room_id"), f.integer("seat_index"), f.flag("is_host"), Room.read(f.obj("room"))
        )


@dataclass(frozen=True, slots=True)
class LeaveRoomOk:
    room_id: uuid.UUID
    version: int | None  # sent by servers that add it; docs/protocol.md requires only room_id

    @classmethod
    def from_reply(cls, reply: Reply) -> LeaveRoomOk:
        f = _payload(reply, "leave_room_ok")
        return cls(f.uid("room_id"), f.optional_integer("version"))


@dataclass(frozen=True, slots=True)
class SetReadyOk:
    room_id: uuid.UUID
    seat_index: int
    ready: bool
    version: int | None

    @classmethod
    def from_reply(cls, reply: Reply) -> SetReadyOk:
        f = _payload(reply, "set_ready_ok")
        return cls(
            f.uid("room_id"),
            f.integer("seat_index"),
            f.flag("ready"),
            f.optional_integer("version"),
        )


@dataclass(frozen=True, slots=True)
class KickPlayerOk:
    room_id: uuid.UUID
    seat_index: int
    version: int | None

    @classmethod
    def from_reply(cls, reply: Reply) -> KickPlayerOk:
        f = _payload(reply, "kick_player_ok")
        return cls(f.uid("room_id"), f.integer("seat_index"), f.optional_integer("version"))


@dataclass(frozen=True, slots=True)
class StartGameOk:
    room_id: uuid.UUID
    version: int

    @classmethod
    def from_reply(cls, reply: Reply) -> StartGameOk:
        f = _payload(reply, "start_game_ok")
        return cls(f.uid("room_id"), f.integer("version"))
