"""The live view of a room, as the cache keeps it (``docs/operations.md``, Internals).

Kept in the domain so the in-memory and Redis caches write the very same
fields and cannot drift apart.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rooms_domain.events import LobbyEvent
from rooms_domain.model import Room, RoomStatus, Seat, UserId, compact_json

# The seat fields that belong to the occupant's stay rather than to the
# committed state: a view written for the same occupant keeps the stored ones.
KEPT_SEAT_FIELDS = ("joined_at_ms", "connected")
# The meta field a rebuilt view cannot know (PostgreSQL's room has no such
# time in the domain): a stored one is kept.
KEPT_META_FIELDS = ("created_at_ms",)


@dataclass(frozen=True, slots=True)
class LiveRoomView:
    """Two string-to-string maps: the ``meta`` hash and the ``seats`` hash."""

    meta: dict[str, str]
    seats: dict[str, str]

    @classmethod
    def of_new_room(cls, room: Room, *, host_display_name: str, created_at_ms: int) -> LiveRoomView:
        # At creation the only occupant is the host, who is connected right now.
        return cls.of(room, {room.owner_user_id: host_display_name}, now_ms=created_at_ms)

    @classmethod
    def of(cls, room: Room, display_names: Mapping[UserId, str], *, now_ms: int) -> LiveRoomView:
        """The whole view of ``room``, every occupant as if they arrived at ``now_ms``.

        Raises KeyError when a seated user has no display name. A cache
        writing it over a stored view keeps :data:`KEPT_SEAT_FIELDS` of the
        seats whose occupant is unchanged and :data:`KEPT_META_FIELDS`.
        """
        s = room.settings
        meta = {
            "status": room.status.value,
            "visibility": s.visibility.value,
            "owner_user_id": str(room.owner_user_id),
            "code": str(room.code),
            "max_players": str(s.max_players),
            "ruleset_id": s.ruleset_id,
            "ruleset_config": compact_json(s.ruleset_config),
            "created_at_ms": str(now_ms),
            "version": str(room.version),
        }
        seats = {
            seat_field(seat.index): _seat_json(seat, display_names, now_ms) for seat in room.seats
        }
        return cls(meta, seats)

    @property
    def version(self) -> int:
        return int(self.meta["version"])

    def written_over(self, stored: LiveRoomView | None) -> LiveRoomView:
        """This view as a cache stores it over ``stored``: the kept fields kept."""
        if stored is None:
            return self
        meta = dict(self.meta)
        meta.update((f, stored.meta[f]) for f in KEPT_META_FIELDS if f in stored.meta)
        seats = {
            name: _kept_stay(text, stored.seats.get(name)) for name, text in self.seats.items()
        }
        return LiveRoomView(meta, seats)


def connected_users(view: LiveRoomView) -> frozenset[UserId]:
    """The seated users the view shows connected (``docs/protocol.md``, presence)."""
    users = set()
    for text in view.seats.values():
        seat = json.loads(text)
        if seat.get("connected") is True and "user_id" in seat:
            users.add(UserId(uuid.UUID(seat["user_id"])))
    return frozenset(users)


def seat_field(index: int) -> str:
    return f"seat:{index}"


def _seat_json(seat: Seat, display_names: Mapping[UserId, str], joined_at_ms: int) -> str:
    if seat.user_id is None:
        return "{}"
    return compact_json(
        {
            "user_id": str(seat.user_id),
            "display_name": display_names[seat.user_id],
            "ready": seat.ready.value,
            "connected": True,
            "is_host": seat.is_host,
            "joined_at_ms": joined_at_ms,
        }
    )


def _kept_stay(text: str, stored: str | None) -> str:
    if stored is None:
        return text
    seat, old = json.loads(text), json.loads(stored)
    if "user_id" not in seat or seat["user_id"] != old.get("user_id"):
        return text  # a new occupant (or none): arrived now
    seat.update((f, old[f]) for f in KEPT_SEAT_FIELDS if f in old)
    return compact_json(seat)


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """One committed change for the cache: the whole view after it, and its events.

    The cache writes ``view`` unless it holds a newer-or-equal version, and
    publishes ``events`` either way, in order. ``closed``: the room closed
    with this change; its view is removed and never written again. A rebuild
    of a missing or stale view is an update with no events.

    A view the cache creates from nothing (it had none: Redis lost it) cannot
    keep the stored ``connected`` of each seat, and ``view`` shows every seat
    connected: a cache that knows presence then shows a seated user connected
    only if presence has a socket of theirs following the room, or they are
    in ``present`` (the requester, whose socket is here right now); any other
    is shown disconnected and, unless held already, held from ``at_ms`` with
    ``player_disconnected`` published after ``events`` (``docs/operations.md``,
    Presence and held seats).
    """

    view: LiveRoomView
    events: tuple[LobbyEvent, ...] = ()
    closed: bool = False
    present: frozenset[UserId] = frozenset()
    at_ms: int = 0

    @classmethod
    def of(
        cls,
        room: Room,
        display_names: Mapping[UserId, str],
        events: Iterable[LobbyEvent],
        now_ms: int,
        present: frozenset[UserId] = frozenset(),
    ) -> LiveUpdate:
        """The update for ``room`` as committed; ``display_names`` of every seated user.

        ``events`` empty for a rebuild; ``now_ms``: the time of the change;
        ``present``: the users known connected now (the requester).
        """
        return cls(
            LiveRoomView.of(room, display_names, now_ms=now_ms),
            tuple(events),
            closed=room.status is RoomStatus.CLOSED,
            present=present,
            at_ms=now_ms,
        )

    @property
    def version(self) -> int:
        return self.view.version
