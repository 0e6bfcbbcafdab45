"""One use case per request of the lobby (``docs/protocol.md``); see ``lobby.py`` for the shape."""

from rooms_domain.use_cases.get_room import GetRoom
from rooms_domain.use_cases.join_room import JoinRoom
from rooms_domain.use_cases.kick_player import KickPlayer
from rooms_domain.use_cases.leave_room import LeaveRoom
from rooms_domain.use_cases.lobby import LobbyOutcome
from rooms_domain.use_cases.set_ready import SetReady
from rooms_domain.use_cases.start_game import StartGame

__all__ = [
    "GetRoom",
    "JoinRoom",
    "KickPlayer",
    "LeaveRoom",
    "LobbyOutcome",
    "SetReady",
    "StartGame",
]
