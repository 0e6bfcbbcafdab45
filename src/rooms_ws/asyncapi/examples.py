"""Example frames, made by the functions the server answers with.

A reply or an error shown in the document is what ``reply`` and
``error_reply`` write, so an example cannot show a frame the server would not
send; the tests validate every example against its message's schema.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from rooms_domain.errors import (
    IdempotencyKeyReused,
    NotHost,
    NotInRoom,
    NotReady,
    Problem,
    RequestInProgress,
    RoomFull,
    RoomInGame,
    RoomNotFound,
    SeatProblem,
    StoreUnavailable,
    ValidationFailed,
)
from rooms_domain.model import CreateRoomOk, RoomCode, RoomId
from rooms_ws.asyncapi.prose import (
    EXAMPLE_CODE,
    EXAMPLE_REQUEST_ID,
    EXAMPLE_ROOM_ID,
    EXAMPLE_USER_ID,
)
from rooms_ws.errors import INTERNAL, RATE_LIMITED, UNKNOWN_TYPE, ErrorCode, WireError, to_wire
from rooms_ws.messages import (
    CREATE_ROOM,
    CREATE_ROOM_OK,
    FrameRejected,
    error_reply,
    parse_frame,
    reply,
)


def request(**payload: Any) -> dict[str, Any]:
    return {
        "type": CREATE_ROOM,
        "request_id": EXAMPLE_REQUEST_ID,
        "payload": {"ruleset_id": "classic", **payload},
    }


def create_room_ok() -> dict[str, Any]:
    created = CreateRoomOk(RoomId(uuid.UUID(EXAMPLE_ROOM_ID)), RoomCode(EXAMPLE_CODE))
    return _loads(reply(CREATE_ROOM_OK, EXAMPLE_REQUEST_ID, created.to_payload()).text)


def error(code: ErrorCode) -> dict[str, Any]:
    request_id: str | None = EXAMPLE_REQUEST_ID
    if code is ErrorCode.BAD_MESSAGE:
        try:
            parse_frame("create me a room")
        except FrameRejected as rejected:
            wire, request_id = rejected.error, rejected.request_id
    else:
        wire = _ERRORS[code]
    assert wire.code is code, f"the example of {code} is a {wire.code}"
    return _loads(error_reply(wire, request_id).text)


def room_event() -> dict[str, Any]:
    # Illustrative: the server relays a room's events as they were published;
    # this is one of the lobby's (docs/protocol.md §9).
    return {
        "type": "player_joined",
        "request_id": None,
        "payload": {
            "room_id": EXAMPLE_ROOM_ID,
            "version": 1,
            "seat_index": 1,
            "user_id": EXAMPLE_USER_ID,
            "display_name": "Bea",
        },
    }


_ERRORS: dict[ErrorCode, WireError] = {
    ErrorCode.UNKNOWN_TYPE: UNKNOWN_TYPE,
    ErrorCode.VALIDATION_FAILED: to_wire(
        ValidationFailed([Problem("max_players", "must be an integer from 2 to 4")])
    ),
    ErrorCode.REQUEST_IN_PROGRESS: to_wire(RequestInProgress()),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: to_wire(IdempotencyKeyReused()),
    ErrorCode.RATE_LIMITED: RATE_LIMITED,
    ErrorCode.UNAVAILABLE: to_wire(StoreUnavailable()),
    ErrorCode.INTERNAL_ERROR: INTERNAL,
    # The lobby's refusals: the wire text is the table's, whatever the domain said.
    ErrorCode.ROOM_NOT_FOUND: to_wire(RoomNotFound("")),
    ErrorCode.ROOM_FULL: to_wire(RoomFull("")),
    ErrorCode.ROOM_IN_GAME: to_wire(RoomInGame("")),
    ErrorCode.NOT_IN_ROOM: to_wire(NotInRoom("")),
    ErrorCode.NOT_HOST: to_wire(NotHost("")),
    ErrorCode.NOT_READY: to_wire(
        NotReady.blocking([SeatProblem(1, "not ready"), SeatProblem(3, "empty")])
    ),
}


def _loads(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value
