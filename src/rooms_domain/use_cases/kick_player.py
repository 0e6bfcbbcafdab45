"""kick_player: the host empties another player's seat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rooms_domain.commands import KickPlayerCommand
from rooms_domain.lobby_rules import Change
from rooms_domain.model import Room, UserId
from rooms_domain.use_cases.lobby import ChangeRoomById


class KickPlayer(ChangeRoomById[KickPlayerCommand]):
    """A seat index outside the usable seats is ValidationFailed, judged by the
    model after the room's state, and (as every ValidationFailed) not stored."""

    def _change(self, room: Room, cmd: KickPlayerCommand, display_name: str) -> Change:
        return room.kick(cmd.user_id, cmd.seat_index)

    def _reply(
        self, room: Room, cmd: KickPlayerCommand, names: Mapping[UserId, str]
    ) -> dict[str, Any]:
        return {"room_id": str(room.room_id), "seat_index": cmd.seat_index, "version": room.version}
