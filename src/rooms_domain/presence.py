"""Presence: which seated users have a socket following their room, on any instance.

The port the WebSocket layer (who follows what, on this instance) and the
held-seat release (who has been gone too long) share. It lives next to the
live view because it *is* part of it: a transition flips the seat's
``connected`` in the view and publishes ``player_disconnected`` /
``player_reconnected`` in the same atomic step (``docs/protocol.md``,
presence), with the room's version as it is (no version bump).

Times are the callers' (``now_ms``), so instances agree on them only as well
as their clocks do: a skew well under the presence timeout is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rooms_domain.model import RoomId, UserId


def beat_interval_s(timeout_s: float) -> float:
    """How often an instance beats (and checks for dead ones): a third of the timeout."""
    return timeout_s / 3


def dead_after_ms(timeout_s: float) -> int:
    """An instance silent this long is dead: two thirds of the timeout.

    Checked every third of the timeout, a dead instance's users are then
    found disconnected within the timeout of its last beat, while a live one
    may miss a beat (a busy event loop) without losing its users.
    """
    return int(timeout_s * 1000 * 2 / 3)


@dataclass(frozen=True, slots=True)
class HeldSeat:
    """A seated user found disconnected at ``since_ms``, their seat held since."""

    room_id: RoomId
    user_id: UserId
    since_ms: int


class Presence(Protocol):
    """Shared by every instance; an instance is alive while it beats.

    An instance that has not beaten for the adapter's timeout is dead: any
    instance's :meth:`expire_instances` then drops its entries, as if each of
    its sockets had closed. Outages raise ``LiveStateFailure``; each call is
    bounded by the adapter itself (its Redis timeout), callers add none.
    """

    async def beat(self, instance: str, now_ms: int) -> bool:
        """Mark ``instance`` alive at ``now_ms``; False when it counted as dead (or new),
        or when another instance dropped any of its entries since its last beat
        (found dead by that one's clock, whatever this one's says).

        An instance told False re-announces what it follows (:meth:`connect`),
        since another instance may have expired its entries meanwhile.
        """
        ...

    async def connect(self, room_id: RoomId, user_id: UserId, instance: str, now_ms: int) -> bool:
        """``instance`` has a socket of the user following the room.

        When the user's seat showed them disconnected: the seat is no longer
        held, shows ``connected`` and ``player_reconnected`` is published.
        Says whether that happened.
        """
        ...

    async def disconnect(
        self, room_id: RoomId, user_id: UserId, instance: str, now_ms: int
    ) -> bool:
        """``instance`` has no socket of the user following the room any more.

        When no live instance has one either and the user is seated there:
        the seat shows ``connected`` false, is held from ``now_ms`` (unless
        already held) and ``player_disconnected`` is published. Says whether
        the seat went from connected to disconnected.
        """
        ...

    async def retire(self, instance: str, now_ms: int) -> None:
        """``instance`` stops (a graceful shutdown): its entries dropped as by
        :meth:`disconnect`, and the instance forgotten."""
        ...

    async def expire_instances(self, now_ms: int, limit: int) -> int:
        """Drop up to ``limit`` entries of dead instances, each as :meth:`disconnect`; how many."""
        ...

    async def held(self, since_until_ms: int, limit: int) -> list[HeldSeat]:
        """Up to ``limit`` held seats held since ``since_until_ms`` or earlier, oldest first."""
        ...

    async def is_held(self, room_id: RoomId, user_id: UserId) -> bool:
        """Whether the user's seat in the room is held (the user still disconnected)."""
        ...

    async def held_since_ms(self, room_id: RoomId, user_id: UserId) -> int | None:
        """Since when the user's seat in the room is held (as :meth:`postpone` last
        counted it), None when it is not held."""
        ...

    async def forget(self, room_id: RoomId, user_id: UserId) -> None:
        """The seat is no longer held (released, or no longer that user's)."""
        ...

    async def postpone(self, room_id: RoomId, user_id: UserId, now_ms: int) -> None:
        """Keep holding the seat, counted again from ``now_ms``: a game in progress,
        or a rejoin whose socket has yet to follow the room."""
        ...

    async def held_count(self) -> int:
        """How many seats are held now, over every room."""
        ...
