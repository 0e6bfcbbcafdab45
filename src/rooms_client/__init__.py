"""rooms_client: a typed asyncio client for the rooms WebSocket service.

    async with RoomsClient.connect("ws://127.0.0.1:8000/ws", token) as client:
        room = await client.create_room(max_players=2)
        print(room.code)
        joined = await other_client.join_room(room.code)   # another user
        async for event in client.events():  # PlayerJoined(room_id, version, ...), ...
            print(event)

Depends on ``websockets`` and the standard library only: it can be copied
into a game's tooling without the server. The wire format is docs/protocol.md §4-10
(``docs/asyncapi.yaml``).
"""

from rooms_client.backoff import RetryPolicy
from rooms_client.client import RECONNECT_CODES, RoomsClient
from rooms_client.errors import (
    ClientClosed,
    ConnectionLost,
    ConnectionRefused,
    ErrorCode,
    HandshakeRefused,
    ProtocolError,
    ReplyTimeout,
    RoomsClientError,
    ServerClosed,
    ServerError,
)
from rooms_client.events import (
    GameStarted,
    HostChanged,
    LobbyEvent,
    PlayerDisconnected,
    PlayerJoined,
    PlayerLeft,
    PlayerReady,
    PlayerReconnected,
    RoomClosed,
    RoomSynced,
    SeatEvent,
)
from rooms_client.lobby import (
    JoinRoomOk,
    KickPlayerOk,
    LeaveRoomOk,
    Room,
    Seat,
    SetReadyOk,
    StartGameOk,
)
from rooms_client.protocol import CreateRoomOk, RoomEvent

__all__ = [
    "RECONNECT_CODES",
    "ClientClosed",
    "ConnectionLost",
    "ConnectionRefused",
    "CreateRoomOk",
    "ErrorCode",
    "GameStarted",
    "HandshakeRefused",
    "HostChanged",
    "JoinRoomOk",
    "KickPlayerOk",
    "LeaveRoomOk",
    "LobbyEvent",
    "PlayerDisconnected",
    "PlayerJoined",
    "PlayerLeft",
    "PlayerReady",
    "PlayerReconnected",
    "ProtocolError",
    "ReplyTimeout",
    "RetryPolicy",
    "Room",
    "RoomClosed",
    "RoomEvent",
    "RoomSynced",
    "RoomsClient",
    "RoomsClientError",
    "Seat",
    "SeatEvent",
    "ServerClosed",
    "ServerError",
    "SetReadyOk",
    "StartGameOk",
]
