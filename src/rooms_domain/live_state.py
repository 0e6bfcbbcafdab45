"""The live view of a room, as the cache keeps it (docs/operations.md, Internals).

Kept in the domain so the in-memory and Redis caches write the very same
fields and cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooms_domain.model import Room, Seat, compact_json


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


def _seat_json(seat: Seat, host_display_name: str, joined_at_ms: int) -> str:
    if seat.user_id is None:
        return "{}"
    # At creation the only occupant is the host, who is connected right now.
    return compact_json(
        {
            "user_id": str(seat.user_id),
            "display_name": host_display_name,
            "ready": seat.ready.value,
            "connected": True,
            "is_host": seat.is_host,
            "joined_at_ms": joined_at_ms,
        }
    )
