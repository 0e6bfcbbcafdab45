"""A player back in time takes their held seat back under the room's lock.

A rejoin (join_room of a seated user, or get_room) answers first; its socket
follows the room, and so clears the hold (``Presence.connect``), only after
the answer. A release (``release_seats.py``) locking the room in between
would still find the seat held, and take it from a player just told it is
theirs. So the rejoin, while it holds the room's lock, postpones the hold
(counted again from now): the release, queued on that lock, finds it no
longer due. A socket that closes before it follows leaves the seat held one
more hold, then released as any other: nothing is held for ever.
"""

from __future__ import annotations

import logging

from rooms_domain.model import RoomId, UserId
from rooms_domain.ports import Clock
from rooms_domain.presence import Presence

logger = logging.getLogger("rooms_domain.held_seat")


class HeldSeats:
    """The lobby's side of the hold; without presence (None) nothing is ever held."""

    def __init__(self, presence: Presence | None, clock: Clock) -> None:
        # No timer of ours around the calls: the port bounds each one itself
        # (its Redis timeout), which also keeps the room's lock short.
        self._presence = presence
        self._clock = clock

    async def is_held(self, room_id: RoomId, user_id: UserId) -> bool:
        """Whether the user's seat is held; False when presence cannot say (then no
        release runs either: it needs presence to find what is due)."""
        if self._presence is None:
            return False
        try:
            return await self._presence.is_held(room_id, user_id)
        except Exception as exc:
            self._unknown("read", room_id, exc)
            return False

    async def take_back(self, room_id: RoomId, user_id: UserId) -> None:
        """Call with the room locked: a release queued on the lock then leaves the seat.

        A no-op for a seat that is not held. A failure fails nothing: the
        rejoin is answered, and a release needs presence too.
        """
        if self._presence is None:
            return
        try:
            await self._presence.postpone(room_id, user_id, self._clock.now_ms())
        except Exception as exc:
            self._unknown("postponed", room_id, exc)

    @staticmethod
    def _unknown(verb: str, room_id: RoomId, exc: Exception) -> None:
        logger.info(
            "held seat not %s in room %s (%s: %s)",
            verb,
            room_id,
            type(exc).__name__,
            exc,
            extra={"room_id": str(room_id), "error": type(exc).__name__},
        )
