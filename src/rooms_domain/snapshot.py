"""The snapshot: the whole lobby as one object, as ``docs/protocol.md`` shows it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rooms_domain.model import Readiness, Room, SeatStatus, UserId


def snapshot(
    room: Room, display_names: Mapping[UserId, str], *, connected: frozenset[UserId]
) -> dict[str, object]:
    """The room and its usable seats, by index; JSON values only.

    ``connected`` names the users with a live connection to the room, as far
    as the caller knows (presence is the live view's; without it, the
    requester at least is connected).
    """
    s = room.settings
    return {
        "room_id": str(room.room_id),
        "code": str(room.code),
        "status": room.status.value,
        "visibility": s.visibility.value,
        "max_players": s.max_players,
        "ruleset_id": s.ruleset_id,
        "ruleset_config": s.ruleset_config,
        "version": room.version,
        "host_seat": room.host_seat,
        "seats": [
            {
                "seat_index": seat.index,
                "status": seat.status.value,
                "user_id": None if seat.user_id is None else str(seat.user_id),
                "display_name": None if seat.user_id is None else display_names.get(seat.user_id),
                "is_host": seat.is_host,
                "ready": seat.ready is Readiness.READY,
                "connected": seat.status is SeatStatus.OCCUPIED and seat.user_id in connected,
            }
            for seat in room.usable_seats
        ],
    }


def with_connected(snap: dict[str, Any], connected: frozenset[UserId]) -> dict[str, Any]:
    """A copy of a snapshot showing ``connected`` as the connected users."""
    names = {str(user) for user in connected}
    seats = [
        {**seat, "connected": seat["user_id"] is not None and seat["user_id"] in names}
        for seat in snap["seats"]
    ]
    return {**snap, "seats": seats}
