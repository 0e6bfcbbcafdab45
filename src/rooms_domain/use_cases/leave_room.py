"""leave_room: empty the requester's seat; host succession and closing."""

from __future__ import annotations

from rooms_domain.commands import LeaveRoomCommand
from rooms_domain.lobby_rules import Change
from rooms_domain.model import Room
from rooms_domain.use_cases.lobby import ChangeRoomById


class LeaveRoom(ChangeRoomById[LeaveRoomCommand]):
    def _change(self, room: Room, cmd: LeaveRoomCommand, display_name: str) -> Change:
        return room.leave(cmd.user_id)
