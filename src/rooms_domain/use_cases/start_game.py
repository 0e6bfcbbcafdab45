"""start_game: the host starts the game once every occupied seat is ready."""

from __future__ import annotations

from rooms_domain.commands import StartGameCommand
from rooms_domain.lobby_rules import Change
from rooms_domain.model import Room
from rooms_domain.use_cases.lobby import ChangeRoomById


class StartGame(ChangeRoomById[StartGameCommand]):
    def _change(self, room: Room, cmd: StartGameCommand, display_name: str) -> Change:
        return room.start(cmd.user_id)
