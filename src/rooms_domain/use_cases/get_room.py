"""get_room: the snapshot, for members; a read that writes nothing durable."""

from __future__ import annotations

from typing import Any

from rooms_domain.commands import GetRoomCommand
from rooms_domain.errors import RoomNotFound
from rooms_domain.lobby_rules import admit
from rooms_domain.ports import SeatedRoom
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
        if await self._held_seats.is_held(cmd.room_id, cmd.user_id):
            seated = await self._take_back(cmd)
        else:
            async with self._uow_factory() as uow:
                found = await uow.rooms.load(cmd.room_id)
            seated = self._admit(found, cmd)
        room = seated.room
        names = seated.display_names
        written = await self._apply(room, names, (), cmd.user_id)
        # After the repair: the view then has every seat, with its presence.
        connected = await self._connected(room, cmd.user_id, written=written)
        payload = {"room": snapshot(room, names, connected=connected)}
        return LobbyOutcome(
            payload, room.room_id, replayed=False, member=True, live_state_missed=not written
        )

    async def _take_back(self, cmd: GetRoomCommand) -> SeatedRoom:
        """A player back after a disconnect: the seat taken back under the room's
        lock (held_seat.py), or not_in_room when a release took it first."""
        async with self._uow_factory() as uow:
            seated = self._admit(await uow.rooms.lock(cmd.room_id), cmd)
            await self._held_seats.take_back(cmd.room_id, cmd.user_id)
            await uow.commit()
        return seated

    @staticmethod
    def _admit(seated: SeatedRoom | None, cmd: GetRoomCommand) -> SeatedRoom:
        if seated is None:
            raise RoomNotFound(NO_ROOM)
        # room_not_found (closed), then not_in_room
        admit(seated.room, seated.room.seat_of(cmd.user_id))
        return seated
