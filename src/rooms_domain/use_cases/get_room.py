"""get_room: the snapshot, for members; a read that writes nothing durable."""

from __future__ import annotations

from typing import Any

from rooms_domain.commands import GetRoomCommand
from rooms_domain.errors import RoomNotFound
from rooms_domain.lobby_rules import admit
from rooms_domain.snapshot import snapshot
from rooms_domain.use_cases.lobby import NO_ROOM, LiveSteps, LobbyOutcome


class GetRoom(LiveSteps):
    """No idempotency record and no version bump: a repeat simply reads again.

    It also repairs the live view (missing, or older than PostgreSQL): the
    cache's step writes it only over an older version, with no event.
    """

    async def __call__(self, cmd: GetRoomCommand) -> dict[str, Any]:
        return (await self.run(cmd)).payload

    async def run(self, cmd: GetRoomCommand) -> LobbyOutcome:
        async with self._uow_factory() as uow:
            seated = await uow.rooms.load(cmd.room_id)
        if seated is None:
            raise RoomNotFound(NO_ROOM)
        room = seated.room
        admit(room, room.seat_of(cmd.user_id))  # room_not_found (closed), then not_in_room
        names = seated.display_names
        written = await self._apply(room, names, (), cmd.user_id)
        # After the repair: the view then has every seat, with its presence.
        connected = await self._connected(room, cmd.user_id, written=written)
        payload = {"room": snapshot(room, names, connected=connected)}
        return LobbyOutcome(
            payload, room.room_id, replayed=False, member=True, live_state_missed=not written
        )
