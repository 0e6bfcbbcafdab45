"""The lobby's events (``docs/protocol.md``, events), typed, and their ordering.

Every event carries its ``room_id`` and the room's ``version`` after the
change that caused it. The events of one change share that version, and
presence events (``player_disconnected``/``player_reconnected``) carry the
current version without adding to it. So, per room, the next event has the
version already seen or the one after; anything else means an event was
lost (pub/sub may lose one) or came late, and the client resynchronises from
a ``get_room`` snapshot. :class:`Versions` makes that decision without I/O.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from rooms_client.lobby import Fields, Room
from rooms_client.protocol import RoomEvent

__all__ = [
    "GameStarted",
    "HostChanged",
    "LobbyEvent",
    "PlayerDisconnected",
    "PlayerJoined",
    "PlayerLeft",
    "PlayerReady",
    "PlayerReconnected",
    "RoomClosed",
    "RoomSynced",
    "SeatEvent",
    "Step",
    "Versions",
    "parse_event",
]


@dataclass(frozen=True, slots=True)
class LobbyEvent:
    """What every event has; ``type`` is its name on the wire."""

    type: ClassVar[str]
    room_id: uuid.UUID
    version: int


@dataclass(frozen=True, slots=True)
class SeatEvent(LobbyEvent):
    """An event about one seat and the user in it."""

    seat_index: int
    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class PlayerJoined(SeatEvent):
    type: ClassVar[str] = "player_joined"
    display_name: str


@dataclass(frozen=True, slots=True)
class PlayerLeft(SeatEvent):
    type: ClassVar[str] = "player_left"
    reason: str  # "left", "kicked" or "timeout"


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
    reason: str  # "empty"


@dataclass(frozen=True, slots=True)
class PlayerDisconnected(SeatEvent):
    type: ClassVar[str] = "player_disconnected"


@dataclass(frozen=True, slots=True)
class PlayerReconnected(SeatEvent):
    type: ClassVar[str] = "player_reconnected"


@dataclass(frozen=True, slots=True)
class RoomSynced:
    """Not a server event: the client replaced what it knew of a room by a snapshot.

    Yielded after an event was found missing or out of order, and after a
    reconnection (events published while no socket was open are lost). A
    consumer rebuilds its view of the room from ``room``.
    """

    type: ClassVar[str] = "room_synced"
    room: Room

    @property
    def room_id(self) -> uuid.UUID:
        return self.room.room_id

    @property
    def version(self) -> int:
        return self.room.version


_TYPES: dict[str, type[LobbyEvent]] = {
    kind.type: kind
    for kind in (
        PlayerJoined,
        PlayerLeft,
        HostChanged,
        PlayerReady,
        GameStarted,
        RoomClosed,
        PlayerDisconnected,
        PlayerReconnected,
    )
}


# Each field is read by its declared type (annotations are strings here).
_READERS: dict[str, Callable[[Fields, str], Any]] = {
    "int": Fields.integer,
    "str": Fields.text,
    "bool": Fields.flag,
    "uuid.UUID": Fields.uid,
}


def parse_event(event: RoomEvent) -> LobbyEvent | None:
    """The typed event of a frame; None for a type this client does not know.

    A known type with a malformed payload is a :class:`ProtocolError`.
    """
    kind = _TYPES.get(event.type or "")
    if kind is None or event.data is None:
        return None
    f = Fields(event.data.get("payload"), f"{kind.type} payload")
    values = {field.name: _READERS[str(field.type)](f, field.name) for field in fields(kind)}
    return kind(**values)


class Step(enum.Enum):
    DELIVER = "deliver"  # in order: hand it to the consumer
    DROP = "drop"  # already covered by the snapshot the consumer has
    RESYNC = "resync"  # a gap or an older version: fetch a snapshot first


class Versions:
    """The last version seen per room, and what to do with the next event."""

    __slots__ = ("_seen", "_synced")

    def __init__(self) -> None:
        self._seen: dict[uuid.UUID, int] = {}
        self._synced: dict[uuid.UUID, int] = {}  # the version of the last snapshot

    def step(self, room_id: uuid.UUID, version: int) -> Step:
        seen = self._seen.get(room_id)
        if seen is None:
            # A room this client has no version for yet (its events can come
            # before the reply that made it follow): the first one sets it.
            self._seen[room_id] = version
            return Step.DELIVER
        if version < seen and version <= self._synced.get(room_id, -1):
            return Step.DROP  # queued before the snapshot, which already holds it
        if version in (seen, seen + 1):
            self._seen[room_id] = version
            return Step.DELIVER
        return Step.RESYNC

    def synced(self, room: Room) -> None:
        """A snapshot replaced what the consumer knew: count from its version."""
        self._seen[room.room_id] = room.version
        self._synced[room.room_id] = room.version

    def created(self, room_id: uuid.UUID) -> None:
        """A room this client created starts at version 0 (docs/protocol.md, create_room)."""
        self._seen.setdefault(room_id, 0)

    def accept(self, room_id: uuid.UUID, version: int) -> None:
        """Count from ``version`` whatever came before (a snapshot could not fix the gap)."""
        self._seen[room_id] = version

    def forget(self, room_id: uuid.UUID) -> None:
        self._seen.pop(room_id, None)
        self._synced.pop(room_id, None)

    def version(self, room_id: uuid.UUID) -> int | None:
        return self._seen.get(room_id)
