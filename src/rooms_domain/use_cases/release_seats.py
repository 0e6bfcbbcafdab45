"""The held seats that ran out, released as by leave_room with reason ``timeout``.

One step of the housekeeping round (``docs/protocol.md``, presence); any
number of instances may run it at once:

    presence: seats held since (now - hold) or earlier, a batch
    for each:  one Unit of Work:
                   lock the room (instances queue here, one at a time)
                   still that user's seat, and still held since (now - hold)?  else skip
                   the model's release_held_seat:  in_game -> kept (postponed)
                   save (no request key), commit
               the live view step: player_left reason timeout, host_changed, room_closed
               presence: no longer held

The row lock is what makes it exactly once: a second instance with the same
candidate waits for the first to commit, then finds the seat no longer that
user's and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from rooms_domain.errors import RoomInGame
from rooms_domain.events import LeaveReason
from rooms_domain.live_state import LiveUpdate
from rooms_domain.model import RoomId, RoomStatus, UserId
from rooms_domain.ports import Clock, LiveStateCache, UnitOfWorkFactory
from rooms_domain.presence import HeldSeat, Presence
from rooms_domain.use_cases.live_step import live_step

logger = logging.getLogger("rooms_domain.release_seats")


@dataclass(frozen=True, slots=True)
class Released:
    room_id: RoomId
    user_id: UserId
    seat_index: int
    reason: LeaveReason = LeaveReason.TIMEOUT


class ReleaseExpiredSeats:
    """Call it to run one batch; returns the seats it released (this call, not others')."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        live_state: LiveStateCache,
        presence: Presence,
        clock: Clock,
        hold_s: float,
        batch: int = 100,
        live_state_timeout_s: float = 0.5,
        on_released: Callable[[Released], None] | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._live_state = live_state
        self._presence = presence
        self._clock = clock
        self._hold_ms = int(hold_s * 1000)
        self._batch = batch
        self._live_state_timeout_s = live_state_timeout_s
        self._on_released = on_released  # metrics, say

    async def __call__(self) -> list[Released]:
        now = self._clock.now_ms()
        # Without Redis nobody knows who is disconnected: nothing can be
        # released, and the caller (the housekeeping round) reports the
        # failure rather than a quiet "0 released".
        due = await self._presence.held(now - self._hold_ms, self._batch)
        released = []
        for held in due:
            try:
                one = await self._release(held, now)
            except Exception:
                # One room's trouble (a lock that waited too long) must not
                # cost the others their release: the next round tries again.
                logger.warning(
                    "held seat not released", exc_info=True, extra={"room_id": str(held.room_id)}
                )
                continue
            if one is not None:
                released.append(one)
                if self._on_released is not None:
                    self._on_released(one)
        return released

    async def _release(self, held: HeldSeat, now: int) -> Released | None:
        async with self._uow_factory() as uow:
            seated = await uow.rooms.lock(held.room_id)
            seat = None if seated is None else seated.room.seat_of(held.user_id)
            if seated is None or seat is None or seated.room.status is RoomStatus.CLOSED:
                # Left, kicked or released already (by another instance): not ours.
                await self._presence.forget(held.room_id, held.user_id)
                return None
            # Checked under the room's lock: the user may have come back since
            # the batch was read, or be coming back: a rejoin postpones the
            # hold under this lock before it answers (its socket follows the
            # room, and so clears the hold, only after the answer).
            since = await self._presence.held_since_ms(held.room_id, held.user_id)
            if since is None or since > now - self._hold_ms:
                return None
            try:
                change = seated.room.release_held_seat(held.user_id)
            except RoomInGame:
                # The game decides: the seat stays held, looked at again later.
                await self._presence.postpone(held.room_id, held.user_id, now)
                return None
            await uow.rooms.save(change.room)
            await uow.commit()
        update = LiveUpdate.of(change.room, seated.display_names, change.events, now)
        await live_step(
            lambda: self._live_state.apply(held.room_id, update),
            held.room_id,
            timeout_s=self._live_state_timeout_s,
            logger=logger,
        )
        await self._presence.forget(held.room_id, held.user_id)
        return Released(held.room_id, held.user_id, seat.index)
