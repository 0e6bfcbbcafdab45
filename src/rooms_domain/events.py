"""What a change to a room tells the room's followers (``docs/protocol.md``, events).

Plain values made by the model, one per consequence of a change, in the order
they happened. Every one carries the room and the room's ``version`` after the
change: followers order events by it and detect a gap with it.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from rooms_domain.model import RoomId, UserId


class LeaveReason(StrEnum):
    LEFT = "left"
    KICKED = "kicked"
    TIMEOUT = "timeout"


class CloseReason(StrEnum):
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class LobbyEvent:
    """The fields every event has; ``type`` is its name on the wire."""

    type: ClassVar[str]

    room_id: RoomId
    version: int

    def to_payload(self) -> dict[str, object]:
        """The event's payload as JSON values, ``room_id`` and ``version`` first."""
        return {f.name: _json_value(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _json_value(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


@dataclass(frozen=True, slots=True)
class SeatEvent(LobbyEvent):
    """An event about one seat and the user who holds (or held) it."""

    seat_index: int
    user_id: UserId


@dataclass(frozen=True, slots=True)
class PlayerJoined(SeatEvent):
    type: ClassVar[str] = "player_joined"

    # The model knows users by id only; the use case supplies the name it read.
    display_name: str | None


@dataclass(frozen=True, slots=True)
class PlayerLeft(SeatEvent):
    type: ClassVar[str] = "player_left"

    reason: LeaveReason


@dataclass(frozen=True, slots=True)
class HostChanged(SeatEvent):
    type: ClassVar[str] = "host_changed"


@dataclass(frozen=True, slots=True)
class PlayerReady(SeatEvent):
    type: ClassVar[str] = "player_ready"

    ready: bool


@dataclass(frozen=True, slots=True)
class GameStarted(LobbyEvent):
    type: ClassVar[str] = "game_started"


@dataclass(frozen=True, slots=True)
class RoomClosed(LobbyEvent):
    type: ClassVar[str] = "room_closed"

    reason: CloseReason = CloseReason.EMPTY


def event_frame(event: LobbyEvent) -> dict[str, object]:
    """The event as a server frame: the reply envelope with no request to answer.

    Every publisher sends this frame, so an event looks the same whichever
    adapter or instance sent it (``docs/protocol.md``, events).
    """
    return {"type": event.type, "request_id": None, "payload": event.to_payload()}


def event_message(event: LobbyEvent) -> str:
    """:func:`event_frame` as the JSON text published on the room's channel."""
    # Compact and in envelope order (type, request_id, payload), as replies are sent.
    return json.dumps(
        event_frame(event), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


@dataclass(frozen=True, slots=True)
class PlayerDisconnected(SeatEvent):
    """Presence lost (docs/protocol.md, presence): no version bump, the room's version as is."""

    type: ClassVar[str] = "player_disconnected"


@dataclass(frozen=True, slots=True)
class PlayerReconnected(SeatEvent):
    """Presence back: no version bump."""

    type: ClassVar[str] = "player_reconnected"
