"""set_ready: the requester's seat ready or not; the value it has already changes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rooms_domain.commands import SetReadyCommand
from rooms_domain.lobby_rules import Change
from rooms_domain.model import Room, UserId
from rooms_domain.use_cases.lobby import ChangeRoomById


class SetReady(ChangeRoomById[SetReadyCommand]):
    def _change(self, room: Room, cmd: SetReadyCommand, display_name: str) -> Change:
        return room.set_ready(cmd.user_id, cmd.ready)

    def _reply(
        self, room: Room, cmd: SetReadyCommand, names: Mapping[UserId, str]
    ) -> dict[str, Any]:
        return self._seat_reply(room, cmd.user_id, lambda seat: {"ready": cmd.ready})
