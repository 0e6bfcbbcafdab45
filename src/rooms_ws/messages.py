"""Wire models (docs/protocol.md §4-5): reading client frames, writing server frames.

Reading is a funnel; each step rejects with the contract's code:

    text frame --orjson--> JSON value --limits--> object --envelope--> Request
       (binary, not JSON, NaN, deeper than orjson reads, huge number,
        not an object, bad request_id, bad type: bad_message)
    Request --type--> known request (else unknown_type)
    payload --the domain's command--> command (else validation_failed)

This layer owns the frame, and only the frame: whether it is a JSON object
with a readable envelope. What the payload must hold (its fields, their JSON
types and values, defaults) is the domain's, checked once when the request's
command is built (``CreateRoomCommand.from_payload``), every problem at once.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rooms_domain.commands import (
    CreateRoomCommand,
    GetRoomCommand,
    JoinRoomCommand,
    KickPlayerCommand,
    LeaveRoomCommand,
    SetReadyCommand,
    StartGameCommand,
)
from rooms_domain.errors import Problem
from rooms_domain.model import (
    DEFAULT_MAX_PLAYERS,
    DEFAULT_VISIBILITY,
    MAX_PLAYERS,
    MIN_PLAYERS,
    RequestId,
    Ruleset,
    Visibility,
)
from rooms_domain.payloads import MISSING
from rooms_ws.errors import ErrorCode, WireError

UUID_TEXT = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID_RE = re.compile(UUID_TEXT)

# JSON numbers beyond 64 bits lose precision on the way in (orjson turns big
# integers into floats) and in most clients: refuse them instead of guessing.
NUMBER_LIMIT = 2**63

CREATE_ROOM = CreateRoomCommand.OPERATION
CREATE_ROOM_OK = "create_room_ok"
JOIN_ROOM = JoinRoomCommand.OPERATION
JOIN_ROOM_OK = "join_room_ok"
LEAVE_ROOM = LeaveRoomCommand.OPERATION
LEAVE_ROOM_OK = "leave_room_ok"
SET_READY = SetReadyCommand.OPERATION
SET_READY_OK = "set_ready_ok"
KICK_PLAYER = KickPlayerCommand.OPERATION
KICK_PLAYER_OK = "kick_player_ok"
START_GAME = StartGameCommand.OPERATION
START_GAME_OK = "start_game_ok"
GET_ROOM = GetRoomCommand.OPERATION
ROOM = "room"  # get_room's reply: the snapshot
ERROR = "error"
REQUEST_TYPES = frozenset(
    {CREATE_ROOM, JOIN_ROOM, LEAVE_ROOM, SET_READY, KICK_PLAYER, START_GAME, GET_ROOM}
)


class FrameRejected(Exception):
    """The frame cannot be served; ``error`` is the reply, ``request_id`` its echo."""

    def __init__(self, error: WireError, request_id: str | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


def _bad(message: str, request_id: str | None, *details: Problem) -> FrameRejected:
    return FrameRejected(WireError(ErrorCode.BAD_MESSAGE, message, details), request_id)


# --- client -> server -----------------------------------------------------------


class RequestEnvelope(BaseModel):
    """``{"type", "request_id", "payload"}``; ``request_id`` is kept as sent, for the echo."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    type: str
    request_id: Annotated[str, Field(pattern=UUID_TEXT)]
    payload: Any = MISSING  # handed to the domain as sent, which judges it

    @property
    def request_uuid(self) -> RequestId:
        return RequestId(uuid.UUID(self.request_id))


def parse_frame(text: str | None, data: bytes | None = None) -> RequestEnvelope:
    """Read one frame into an envelope, or raise :class:`FrameRejected` (bad_message)."""
    if text is None:
        raise _bad("frames must be UTF-8 text, not binary", None)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        # NaN, Infinity, lone surrogates and nesting deeper than 1024 end here too.
        raise _bad("the frame is not valid JSON", None) from None
    if not isinstance(value, dict):
        raise _bad("the frame must be a JSON object", None)
    raw_id = value.get("request_id")
    request_id = raw_id if isinstance(raw_id, str) and _UUID_RE.match(raw_id) else None
    number = _huge_number(value)
    if number is not None:
        raise _bad(f"numbers must lie within ±2^63 (got {number:.3g})", request_id)
    try:
        return RequestEnvelope.model_validate(value)
    except ValidationError as exc:
        details = tuple(_envelope_problem(error) for error in exc.errors(include_url=False))
        raise _bad("the frame is not a valid request envelope", request_id, *details) from None


def _envelope_problem(error: Any) -> Problem:
    field = ".".join(str(part) for part in error["loc"]) or "frame"
    if error["type"] == "missing":
        return Problem(field, "is required")
    if error["type"] == "extra_forbidden":
        return Problem(field, "is not a field of the envelope")
    if field == "request_id":
        return Problem(field, "must be a UUID string")
    return Problem(field, "must be a string")


def _huge_number(document: object) -> float | None:
    """A number of the document beyond :data:`NUMBER_LIMIT`, if any.

    Iterative on purpose: orjson reads 1024 levels of nesting, Python's
    recursion stops near 1000.
    """
    stack: list[object] = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and abs(value) >= NUMBER_LIMIT
        ):
            return value
    return None


# The AsyncAPI document shows the payload with this model; it validates
# nothing (the domain does), and its values are the domain's.
class CreateRoomPayload(BaseModel):
    """The create_room payload (docs/protocol.md §10); strict, unknown fields forbidden."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    visibility: Literal[Visibility.PRIVATE] = DEFAULT_VISIBILITY
    max_players: Annotated[int, Field(ge=MIN_PLAYERS, le=MAX_PLAYERS)] = DEFAULT_MAX_PLAYERS
    ruleset_id: Literal[Ruleset.CLASSIC]
    ruleset_config: dict[str, Any] = Field(default_factory=dict)


# --- server -> client -----------------------------------------------------------


class ErrorDetail(BaseModel):
    field: str
    problem: str


class SeatDetail(BaseModel):
    """A seat that blocks start_game (``not_ready``): ``"not ready"`` or ``"empty"``."""

    seat_index: int
    problem: str


class ErrorPayload(BaseModel):
    code: ErrorCode
    message: str
    retryable: bool
    details: list[ErrorDetail | SeatDetail]


class ServerMessage(BaseModel):
    type: str
    request_id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EncodedReply:
    """A frame ready to send, with what the request log needs to know about it."""

    text: str
    outcome: str


# The models above describe the frames (the AsyncAPI document is built from
# them, and a test checks every frame against them); writing a frame is a hot
# path, so it builds the dict directly instead of validating models it made itself.


def reply(type_: str, request_id: str | None, payload: dict[str, Any]) -> EncodedReply:
    frame = {"type": type_, "request_id": request_id, "payload": payload}
    return EncodedReply(orjson.dumps(frame).decode(), outcome=type_)


def error_reply(error: WireError, request_id: str | None) -> EncodedReply:
    payload = {
        "code": error.code.value,
        "message": error.message,
        "retryable": error.retryable,
        "details": [
            {"field": d.field, "problem": d.problem} if isinstance(d, Problem) else dict(d)
            for d in error.details
        ],
    }
    frame = {"type": ERROR, "request_id": request_id, "payload": payload}
    return EncodedReply(orjson.dumps(frame).decode(), outcome=error.code.value)


def peek_request_id(text: str | None) -> str | None:
    """The request id of a frame that will not be served (rate limited), if readable."""
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    raw = value.get("request_id") if isinstance(value, dict) else None
    return raw if isinstance(raw, str) and _UUID_RE.match(raw) else None
