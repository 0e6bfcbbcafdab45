"""The wire format of docs/protocol.md §4-5 and §10, without any I/O: frames in, typed values out.

A frame from the server is a *reply* when it carries the ``request_id`` of a
request this client sent; every other frame is a *room event* (relayed
unchanged from the room's channel, so it may have any shape).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

from rooms_client.errors import ProtocolError, ServerError

__all__ = [
    "CREATE_ROOM",
    "CREATE_ROOM_OK",
    "ERROR",
    "CreateRoomOk",
    "Reply",
    "RoomEvent",
    "create_room_frame",
    "read_frame",
    "request_frame",
]

CREATE_ROOM = "create_room"
CREATE_ROOM_OK = "create_room_ok"
ERROR = "error"


@dataclass(frozen=True, slots=True)
class CreateRoomOk:
    """``create_room_ok``: the room, its join code, and the caller's seat."""

    room_id: uuid.UUID
    code: str
    seat_index: int
    is_host: bool
    request_id: uuid.UUID

    @classmethod
    def from_reply(cls, reply: Reply) -> CreateRoomOk:
        if reply.type != CREATE_ROOM_OK:
            raise ProtocolError(f"expected {CREATE_ROOM_OK}, got {reply.type!r}")
        payload = reply.payload
        try:
            room_id = uuid.UUID(payload["room_id"])
            code, seat_index, is_host = payload["code"], payload["seat_index"], payload["is_host"]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"malformed {CREATE_ROOM_OK} payload: {payload!r}") from exc
        if not (
            isinstance(code, str)
            and isinstance(seat_index, int)
            and not isinstance(seat_index, bool)
            and isinstance(is_host, bool)
        ):
            raise ProtocolError(f"malformed {CREATE_ROOM_OK} payload: {payload!r}")
        return cls(room_id, code, seat_index, is_host, uuid.UUID(reply.request_id))


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """A frame that answers no request: a message published on a room's channel."""

    text: str
    data: dict[str, Any] | None  # the frame as JSON, when it is a JSON object

    @property
    def type(self) -> str | None:
        kind = self.data.get("type") if self.data is not None else None
        return kind if isinstance(kind, str) else None


@dataclass(frozen=True, slots=True)
class Reply:
    request_id: str
    type: str
    payload: dict[str, Any]

    def error(self) -> ServerError | None:
        """The error this reply carries, if it is an ``error`` frame."""
        if self.type != ERROR:
            return None
        body = self.payload
        code, message = body.get("code"), body.get("message")
        retryable, details = body.get("retryable"), body.get("details", [])
        if not (
            isinstance(code, str)
            and isinstance(message, str)
            and isinstance(retryable, bool)
            and isinstance(details, list)
        ):
            raise ProtocolError(f"malformed error payload: {body!r}")
        return ServerError(code, message, retryable, details, request_id=self.request_id)


def create_room_frame(
    request_id: str,
    *,
    ruleset_id: str,
    max_players: int,
    ruleset_config: Mapping[str, Any] | None,
    visibility: str,
) -> str:
    payload = {
        "visibility": visibility,
        "max_players": max_players,
        "ruleset_id": ruleset_id,
        "ruleset_config": dict(ruleset_config or {}),
    }
    # allow_nan=False (in request_frame): NaN is not JSON, the server would refuse it.
    return request_frame(CREATE_ROOM, request_id, payload)


def request_frame(kind: str, request_id: str, payload: Mapping[str, Any]) -> str:
    """One request in the envelope of docs/protocol.md, as compact JSON."""
    frame = {"type": kind, "request_id": request_id, "payload": dict(payload)}
    return json.dumps(frame, separators=(",", ":"), allow_nan=False)


def read_frame(data: str | bytes, ours: Container[str]) -> Reply | RoomEvent:
    """Classify one frame: a reply to one of ``ours`` (request ids), or a room event."""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except ValueError:
        return RoomEvent(text, None)
    if not isinstance(value, dict):
        return RoomEvent(text, None)
    request_id, kind, payload = value.get("request_id"), value.get("type"), value.get("payload")
    if isinstance(request_id, str) and request_id in ours:
        if not isinstance(kind, str) or not isinstance(payload, dict):
            raise ProtocolError(f"malformed reply: {text[:200]!r}")
        return Reply(request_id, kind, payload)
    return RoomEvent(text, value)
