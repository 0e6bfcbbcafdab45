"""join_room: take the lowest empty usable seat of the room with that code."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from rooms_domain.commands import JoinRoomCommand
from rooms_domain.lobby_rules import Change
from rooms_domain.model import Room, RoomCode, RoomId, UserId
from rooms_domain.ports import RoomRepository
from rooms_domain.snapshot import snapshot, with_connected
from rooms_domain.use_cases.lobby import ChangeRoom, LobbyOutcome, is_member, seated_users


class JoinRoom(ChangeRoom[JoinRoomCommand]):
    """Already seated: the same seat back (a rejoin), with a repaired live view."""

    REBUILDS_UNCHANGED: ClassVar[bool] = True

    def _room_of(self, cmd: JoinRoomCommand) -> RoomId | RoomCode:
        # Through the unique index on ``code``; a closed room is found, and refused.
        return cmd.code

    def _change(self, room: Room, cmd: JoinRoomCommand, display_name: str) -> Change:
        return room.join(cmd.user_id, display_name)

    def _reply(
        self, room: Room, cmd: JoinRoomCommand, names: Mapping[UserId, str]
    ) -> dict[str, Any]:
        reply = self._seat_reply(room, cmd.user_id, lambda seat: {"is_host": seat.is_host})
        return {**reply, "room": snapshot(room, names, connected=seated_users(room))}

    async def _locked(self, room: Room, cmd: JoinRoomCommand) -> None:
        if room.seat_of(cmd.user_id) is not None:
            # A rejoin: the seat may be held (held_seat.py).
            await self._held_seats.take_back(room.room_id, cmd.user_id)

    async def _fresh(
        self, room: Room, cmd: JoinRoomCommand, payload: dict[str, Any], *, written: bool
    ) -> dict[str, Any]:
        # The snapshot's `connected` as presence has it now (docs/protocol.md).
        connected = await self._connected(room, cmd.user_id, written=written)
        return {**payload, "room": with_connected(payload["room"], connected)}

    async def _replayed(
        self, rooms: RoomRepository, cmd: JoinRoomCommand, payload: dict[str, Any]
    ) -> LobbyOutcome:
        # Following is not a write: a replay follows the room too, if the
        # user still holds a seat there and it is not closed; a rejoin as
        # well, so the room is locked to take a held seat back (held_seat.py).
        room_id = RoomId(uuid.UUID(str(payload["room_id"])))
        now = await rooms.lock(room_id)
        member = now is not None and is_member(now.room, cmd.user_id)
        if member:
            await self._held_seats.take_back(room_id, cmd.user_id)
        return LobbyOutcome(payload, room_id, replayed=True, member=member)
