"""Wire models (contract §3-4): reading client frames, writing server frames.

Reading is a funnel; each step rejects with the contract's code:

    text frame --orjson--> JSON value --limits--> object --envelope--> Request
       (binary, not JSON, NaN, too deep, huge number, not an object,
        bad request_id, bad type: bad_message)
    Request --type--> known request (else unknown_type)
    payload --CreateRoomPayload--> valid payload (else validation_failed)

The payload model is strict (``true`` is not 2, ``"4"`` is not 4, ``3.0`` is
not 3) and forbids unknown fields. The domain's ``RoomSettings.checked``
applies the same rules again; to keep one wording, the problem text of a
field the model rejects is taken from the domain's own verdict on it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rooms_domain.errors import Problem, ValidationFailed
from rooms_domain.model import (
    MAX_PLAYERS,
    MAX_RULESET_CONFIG_BYTES,
    MIN_PLAYERS,
    RequestId,
    RoomSettings,
    compact_json,
)
from rooms_ws.errors import ErrorCode, WireError

UUID_TEXT = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID_RE = re.compile(UUID_TEXT)

# JSON numbers beyond 64 bits lose precision on the way in (orjson turns big
# integers into floats) and in most clients: refuse them instead of guessing.
NUMBER_LIMIT = 2**63
# Levels of objects and arrays in one frame, the envelope included.
MAX_DEPTH = 64

CREATE_ROOM = "create_room"
CREATE_ROOM_OK = "create_room_ok"
ERROR = "error"
REQUEST_TYPES = frozenset({CREATE_ROOM})


class FrameRejected(Exception):
    """The frame cannot be served; ``error`` is the reply, ``request_id`` its echo."""

    def __init__(self, error: WireError, request_id: str | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


def _bad(message: str, request_id: str | None, *details: Problem) -> FrameRejected:
    return FrameRejected(WireError(ErrorCode.BAD_MESSAGE, message, details), request_id)


# --- client -> server -----------------------------------------------------------


_MISSING: Any = object()


class RequestEnvelope(BaseModel):
    """``{"type", "request_id", "payload"}``; ``request_id`` is kept as sent, for the echo."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    type: str
    request_id: Annotated[str, Field(pattern=UUID_TEXT)]
    payload: Any = _MISSING

    @property
    def request_uuid(self) -> RequestId:
        return RequestId(uuid.UUID(self.request_id))

    @property
    def has_payload(self) -> bool:
        return self.payload is not _MISSING


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
    problem = _limit_problem(value)
    if problem is not None:
        raise _bad(problem, request_id)
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


def _limit_problem(document: object) -> str | None:
    """What makes a parsed document unsafe to pass on, if anything.

    Iterative on purpose: the rest of the stack (json.dumps, the domain's
    checks, PostgreSQL) recurses, and Python's limit is about 1000 levels
    while orjson accepts 1024: depth is capped here, far below both.
    """
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            return f"JSON nesting must not exceed {MAX_DEPTH} levels"
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return "text must not contain U+0000"
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            # PostgreSQL's jsonb cannot store U+0000; refuse it at the door.
            if "\x00" in value:
                return "text must not contain U+0000"
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and abs(value) >= NUMBER_LIMIT
        ):
            return f"numbers must lie within ±2^63 (got {value:.3g})"
    return None


class CreateRoomPayload(BaseModel):
    """The create_room payload (contract §4); strict, unknown fields forbidden."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    visibility: Literal["private"] = "private"
    max_players: Annotated[int, Field(ge=MIN_PLAYERS, le=MAX_PLAYERS)] = 4
    ruleset_id: Literal["classic"]
    ruleset_config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("ruleset_config")
    @classmethod
    def _fits(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(compact_json(value).encode()) > MAX_RULESET_CONFIG_BYTES:
            raise ValueError(f"must be at most {MAX_RULESET_CONFIG_BYTES} bytes as compact JSON")
        return value

    @classmethod
    def parse(cls, envelope: RequestEnvelope) -> CreateRoomPayload:
        """The valid payload, or ``ValidationFailed`` with one problem per broken field."""
        if not envelope.has_payload:
            raise ValidationFailed([Problem("payload", "is required")])
        payload = envelope.payload
        if not isinstance(payload, dict):
            raise ValidationFailed([Problem("payload", "must be a JSON object")])
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            raise ValidationFailed(_payload_problems(payload, exc)) from None


def _payload_problems(payload: dict[str, Any], exc: ValidationError) -> list[Problem]:
    verdict = _domain_verdict(payload)
    problems: dict[str, Problem] = {}
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "payload"
        if field in problems:
            continue  # one detail per field, however many ways it is wrong
        if error["type"] == "extra_forbidden":
            problems[field] = Problem(field, "is not a field of create_room")
        elif error["type"] == "missing":
            problems[field] = Problem(field, "is required")
        else:
            text = verdict.get(field) or str(error["msg"]).removeprefix("Value error, ")
            problems[field] = Problem(field, text)
    return list(problems.values())


def _domain_verdict(payload: dict[str, Any]) -> dict[str, str]:
    """The domain's wording for each field it rejects, defaults filled in."""
    try:
        RoomSettings.checked(
            visibility=payload.get("visibility", "private"),
            max_players=payload.get("max_players", 4),
            ruleset_id=payload.get("ruleset_id"),
            ruleset_config=payload.get("ruleset_config", {}),
        )
    except ValidationFailed as failed:
        return {p.field: p.problem for p in failed.problems}
    return {}


# --- server -> client -----------------------------------------------------------


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorPayload(BaseModel):
    code: ErrorCode
    message: str
    retryable: bool
    details: list[ErrorDetail]


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
        "details": [{"field": p.field, "problem": p.problem} for p in error.details],
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
