"""How every writing request of the lobby runs; each request is a small subclass.

validate (the command)  ->  one Unit of Work:
    claim the key, and lock the room if it was free (one step)
                   ->  Replay: the stored reply (a refusal is raised again)
                   ->  Fresh: apply the model's rule to the locked room
                           a change:    save it, the key completed, in one statement
                           no change:   the key completed with the reply
                           a Refusal:   the key failed with it (stored, replayed)
                           ValidationFailed (judged on the room): rolled back, not stored
    commit
->  the live view step, bounded (the reply never waits on a sick cache for long)
->  the reply
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from rooms_domain.commands import LobbyCommand, RoomCommand
from rooms_domain.errors import Refusal, RoomNotFound
from rooms_domain.events import LobbyEvent
from rooms_domain.live_state import LiveUpdate, connected_users
from rooms_domain.lobby_rules import Change
from rooms_domain.model import Room, RoomCode, RoomId, RoomStatus, Seat, SeatStatus, UserId
from rooms_domain.ports import (
    Clock,
    Completion,
    LiveStateCache,
    Replay,
    RoomRepository,
    UnitOfWorkFactory,
)
from rooms_domain.presence import Presence
from rooms_domain.replies import StoredReply
from rooms_domain.use_cases.held_seat import HeldSeats
from rooms_domain.use_cases.live_step import live_step

logger = logging.getLogger("rooms_domain.lobby")

C = TypeVar("C", bound=LobbyCommand)
R = TypeVar("R", bound=RoomCommand)

NO_ROOM = "no open room with that code or id"


@dataclass(frozen=True, slots=True)
class LobbyOutcome:
    """What happened, for the session (following the room), logs and metrics."""

    payload: dict[str, Any]  # the success reply, as stored
    room_id: RoomId
    replayed: bool
    # The requester holds a seat in the room, which is not closed: a connection
    # that asked follows the room (docs/protocol.md, events).
    member: bool
    events: tuple[LobbyEvent, ...] = ()
    # The change is durable but the live view step failed: a view to repair.
    live_state_missed: bool = False


def is_member(room: Room, user: UserId) -> bool:
    return room.status is not RoomStatus.CLOSED and room.seat_of(user) is not None


def seated_users(room: Room) -> frozenset[UserId]:
    # What a stored reply shows (it is replayed later, when presence may
    # differ anyway); a fresh reply shows the live view's (_connected).
    return frozenset(
        s.user_id for s in room.seats if s.status is SeatStatus.OCCUPIED and s.user_id is not None
    )


class LiveSteps:
    """The bounded live view step shared by every lobby use case."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        live_state: LiveStateCache,
        clock: Clock,
        live_state_timeout_s: float = 0.5,
        presence: Presence | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._live_state = live_state
        self._clock = clock
        self._live_state_timeout_s = live_state_timeout_s
        self._held_seats = HeldSeats(presence, clock)

    async def _apply(
        self,
        room: Room,
        names: Mapping[UserId, str],
        events: tuple[LobbyEvent, ...],
        requester: UserId,
    ) -> bool:
        # The requester's socket is here: connected even in a view the cache
        # has to create from nothing, where presence may not know them yet.
        now = self._clock.now_ms()
        update = LiveUpdate.of(room, names, events, now, present=frozenset((requester,)))
        return await live_step(
            lambda: self._live_state.apply(room.room_id, update),
            room.room_id,
            timeout_s=self._live_state_timeout_s,
            logger=logger,
        )

    async def _connected(
        self, room: Room, requester: UserId, *, written: bool = True
    ) -> frozenset[UserId]:
        """Who the live view shows connected, the requester always (they are, now).

        Without the view (Redis unreachable: the step before it failed, or
        this read does), nobody else: presence lives there only. The failed
        step was logged already; a failed read is not worth a second line.
        """
        view = None
        if written:
            try:
                async with asyncio.timeout(self._live_state_timeout_s):
                    view = await self._live_state.read(room.room_id)
            except Exception:
                logger.debug("live view not read for presence", exc_info=True)
        others = connected_users(view) if view is not None else frozenset()
        return others | {requester}


class ChangeRoom(LiveSteps, Generic[C]):
    """A writing lobby request; subclasses say how to find the room, the rule, the reply."""

    # A rejoin changes nothing, and still repairs a missing or stale live view.
    REBUILDS_UNCHANGED: ClassVar[bool] = False

    async def __call__(self, cmd: C) -> dict[str, Any]:
        return (await self.run(cmd)).payload

    async def run(self, cmd: C) -> LobbyOutcome:
        async with self._uow_factory() as uow:
            # Hold the key and lock the room (one step), or replay.
            claim, seated = await uow.rooms.claim_and_lock(
                cmd.key, cmd.fingerprint(), self._room_of(cmd)
            )
            if isinstance(claim, Replay):
                payload = claim.reply.replayed()  # a stored refusal is raised again here
                return await self._replayed(uow.rooms, cmd, payload)
            try:
                if seated is None:
                    raise RoomNotFound(NO_ROOM)
                change = self._change(seated.room, cmd, claim.display_name)
            except Refusal as refusal:
                await uow.idempotency.complete(Completion(cmd.key, StoredReply.refusal(refusal)))
                await uow.commit()
                raise
            # Anything else (ValidationFailed of a seat index, a store failure)
            # leaves the block uncommitted: nothing is stored, the key is free.
            names = {**seated.display_names, cmd.user_id: claim.display_name}
            payload = self._reply(change.room, cmd, names)
            done = Completion(cmd.key, StoredReply.success(payload))
            if change.changed:
                await uow.rooms.save(change.room, completes=done)
            else:
                await uow.idempotency.complete(done)
            await self._locked(seated.room, cmd)
            await uow.commit()
        room = change.room
        written = True
        if change.changed or self.REBUILDS_UNCHANGED:
            written = await self._apply(room, names, change.events, cmd.user_id)
        payload = await self._fresh(room, cmd, payload, written=written)
        return LobbyOutcome(
            payload,
            room.room_id,
            replayed=False,
            member=is_member(room, cmd.user_id),
            events=change.events,
            live_state_missed=not written,
        )

    async def _replayed(
        self, rooms: RoomRepository, cmd: C, payload: dict[str, Any]
    ) -> LobbyOutcome:
        room_id = RoomId(uuid.UUID(str(payload["room_id"])))
        return LobbyOutcome(payload, room_id, replayed=True, member=False)

    async def _fresh(
        self, room: Room, cmd: C, payload: dict[str, Any], *, written: bool
    ) -> dict[str, Any]:
        """The reply as sent now (the stored one is ``payload``)."""
        return payload

    async def _locked(self, room: Room, cmd: C) -> None:
        """Last step of a success under the room's lock (``room`` as it was locked)."""

    def _room_of(self, cmd: C) -> RoomId | RoomCode:
        """How the request names its room."""
        raise NotImplementedError

    def _change(self, room: Room, cmd: C, display_name: str) -> Change:
        raise NotImplementedError

    def _reply(self, room: Room, cmd: C, names: Mapping[UserId, str]) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def _seat_reply(
        room: Room, user_id: UserId, fields: Callable[[Seat], dict[str, Any]]
    ) -> dict[str, Any]:
        """A reply naming the requester's seat: room_id, seat_index, ``fields(seat)``, version."""
        seat = room.seat_of(user_id)
        assert seat is not None
        head = {"room_id": str(room.room_id), "seat_index": seat.index}
        return {**head, **fields(seat), "version": room.version}


class ChangeRoomById(ChangeRoom[R]):
    """A writing request addressed by ``room_id``: every one but join_room."""

    def _room_of(self, cmd: R) -> RoomId | RoomCode:
        return cmd.room_id

    def _reply(self, room: Room, cmd: R, names: Mapping[UserId, str]) -> dict[str, Any]:
        """The reply of leave_room and start_game: the room and its version after."""
        return {"room_id": str(room.room_id), "version": room.version}
