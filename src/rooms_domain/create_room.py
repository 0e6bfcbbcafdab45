"""The CreateRoom use case: the only orchestration in the domain."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from rooms_domain.commands import CreateRoomCommand
from rooms_domain.errors import CodeSpaceExhausted
from rooms_domain.live_state import LiveRoomView
from rooms_domain.model import CreateRoomOk, Room, RoomId
from rooms_domain.ports import (
    Clock,
    CodeGenerator,
    Completion,
    LiveStateCache,
    Replay,
    RoomRepository,
    UnitOfWorkFactory,
)
from rooms_domain.replies import StoredReply
from rooms_domain.use_cases.live_step import live_step

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CreateRoomOutcome:
    """What happened, for logs and metrics; the caller answers with ``result``."""

    result: CreateRoomOk
    replayed: bool
    code_draws: int
    # The room is durable but its live view could not be written: a cache miss
    # to rebuild from PostgreSQL. Never true for a replay (it writes nothing).
    live_state_missed: bool = False


class CreateRoom:
    """Create a private room: durable first, then the live view, best effort.

    Stateless between calls: one instance serves every connection, and each
    call opens its own Unit of Work.
    """

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        codes: CodeGenerator,
        live_state: LiveStateCache,
        clock: Clock,
        max_code_draws: int = 8,
        live_state_timeout_s: float = 0.5,
    ) -> None:
        if max_code_draws < 1:
            raise ValueError("max_code_draws must be at least 1")
        self._uow_factory = uow_factory
        self._codes = codes
        self._live_state = live_state
        self._clock = clock
        self._max_code_draws = max_code_draws
        self._live_state_timeout_s = live_state_timeout_s

    async def __call__(self, cmd: CreateRoomCommand) -> CreateRoomOk:
        return (await self.run(cmd)).result

    async def run(self, cmd: CreateRoomCommand) -> CreateRoomOutcome:
        # The command's rules were applied when it was built (``from_payload``):
        # an invalid payload never gets here, and so touches no store.
        async with self._uow_factory() as uow:
            # Hold the key (in_progress) and read the host's name, or replay.
            claim = await uow.idempotency.claim(cmd.key, cmd.fingerprint())
            if isinstance(claim, Replay):
                stored = CreateRoomOk.from_payload(claim.reply.replayed())
                return CreateRoomOutcome(stored, replayed=True, code_draws=0)
            # The room, its seats and the key completed with this reply.
            room, result, draws = await self._add_with_free_code(uow.rooms, cmd)
            await uow.commit()
        view = LiveRoomView.of_new_room(
            room, host_display_name=claim.display_name, created_at_ms=self._clock.now_ms()
        )
        written = await self._publish_live_state(room.room_id, view)
        return CreateRoomOutcome(
            result, replayed=False, code_draws=draws, live_state_missed=not written
        )

    async def _add_with_free_code(
        self, rooms: RoomRepository, cmd: CreateRoomCommand
    ) -> tuple[Room, CreateRoomOk, int]:
        """Draw codes until one is free; each draw is one step that adds the room
        and its seats and completes the request with that room as its reply."""
        room = Room.open(
            room_id=RoomId(uuid.uuid4()),
            owner=cmd.user_id,
            code=self._codes.next_code(),
            settings=cmd.settings,
        )
        for draw in range(1, self._max_code_draws + 1):
            if draw > 1:
                room = room.with_code(self._codes.next_code())
            result = CreateRoomOk(room.room_id, room.code)
            completion = Completion(cmd.key, StoredReply.success(result.to_payload()))
            if await rooms.add_if_code_free(room, completes=completion):
                return room, result, draw
        raise CodeSpaceExhausted(f"no free code in {self._max_code_draws} draws")

    async def _publish_live_state(self, room_id: RoomId, view: LiveRoomView) -> bool:
        """Write the live view within the bound; say whether it was written."""
        return await live_step(
            lambda: self._live_state.room_created(room_id, view),
            room_id,
            timeout_s=self._live_state_timeout_s,
            logger=logger,
        )
