"""The live view of a room, as the cache keeps it (contract §4).

Kept in the domain so the in-memory and Redis caches write the very same
fields and cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rooms_domain.events import LobbyEvent
from rooms_domain.model import Room, RoomStatus, Seat, UserId, compact_json


@dataclass(frozen=True, slots=True)
class LiveRoomView:
    """Two string-to-string maps: the ``meta`` hash and the ``seats`` hash."""

    meta: dict[str, str]
    seats: dict[str, str]

    @classmethod
    def of_new_room(cls, room: Room, *, host_display_name: str, created_at_ms: int) -> LiveRoomView:
        s = room.settings
        meta = {
            "status": room.status.value,
            "visibility": s.visibility.value,
            "owner_user_id": str(room.owner_user_id),
            "code": str(room.code),
            "max_players": str(s.max_players),
            "ruleset_id": s.ruleset_id,
            "ruleset_config": compact_json(s.ruleset_config),
            "created_at_ms": str(created_at_ms),
            "version": str(room.version),
        }
        seats = {
            f"seat:{seat.index}": _seat_json(seat, host_display_name, created_at_ms)
            for seat in room.seats
        }
        return cls(meta, seats)

    @classmethod
    def of_room(
        cls, room: Room, display_names: Mapping[UserId, str], *, now_ms: int
    ) -> LiveRoomView:
        """The whole committed view of any room, one seat entry per seat.

        ``created_at_ms``, ``joined_at_ms`` and ``connected`` are what a room
        written afresh now would hold; the cache keeps the stored ones for
        seats whose occupant did not change (see :class:`LiveUpdate`).
        """
        view = cls.of_new_room(room, host_display_name="", created_at_ms=now_ms)
        seats = {
            f"seat:{seat.index}": _seat_json(
                seat, display_names.get(seat.user_id, "") if seat.user_id else "", now_ms
            )
            for seat in room.seats
        }
        return cls(view.meta, seats)


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """One committed change of a room, for the cache's one atomic step.

    ``view`` is the whole view after the change; the cache writes it only over
    an older ``version`` (or none), and publishes ``events`` in any case.
    ``closed``: the room is gone from the live view for good.
    """

    view: LiveRoomView
    events: tuple[LobbyEvent, ...]
    closed: bool

    @classmethod
    def of(
        cls,
        room: Room,
        display_names: Mapping[UserId, str],
        events: tuple[LobbyEvent, ...],
        now_ms: int,
    ) -> LiveUpdate:
        view = LiveRoomView.of_room(room, display_names, now_ms=now_ms)
        return cls(view, events, closed=room.status is RoomStatus.CLOSED)

    @property
    def version(self) -> int:
        return int(self.view.meta["version"])


def _seat_json(seat: Seat, display_name: str, joined_at_ms: int) -> str:
    if seat.user_id is None:
        return "{}"
    # A new occupant is connected right now: they just sent the request.
    return compact_json(
        {
            "user_id": str(seat.user_id),
            "display_name": display_name,
            "ready": seat.ready.value,
            "connected": True,
            "is_host": seat.is_host,
            "joined_at_ms": joined_at_ms,
        }
    )
