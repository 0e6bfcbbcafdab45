"""The lobby's messages (docs/protocol.md §11-16): requests, replies and one schema per event.

Kept apart from :mod:`.schemas` and :mod:`.document`, which hold create_room's
and the envelope's, so that each request here is one row of :data:`REQUESTS`.
The event schemas are read off the domain's event classes, so an event that
gains a field gains it here too; the examples are built by the domain's own
functions (the snapshot, the events' ``to_payload``) and the server's ``reply``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
import uuid
from dataclasses import dataclass
from typing import Any

from rooms_domain import events as domain_events
from rooms_domain.events import LobbyEvent, event_frame
from rooms_domain.model import (
    CODE_LENGTH,
    SEAT_COUNT,
    Room,
    RoomCode,
    RoomId,
    RoomSettings,
    RoomStatus,
    SeatStatus,
    UserId,
    Visibility,
)
from rooms_domain.snapshot import snapshot
from rooms_ws.asyncapi.prose import (
    EXAMPLE_CODE,
    EXAMPLE_REQUEST_ID,
    EXAMPLE_ROOM_ID,
    EXAMPLE_USER_ID,
)
from rooms_ws.messages import (
    GET_ROOM,
    JOIN_ROOM,
    JOIN_ROOM_OK,
    KICK_PLAYER,
    KICK_PLAYER_OK,
    LEAVE_ROOM,
    LEAVE_ROOM_OK,
    ROOM,
    SET_READY,
    SET_READY_OK,
    START_GAME,
    START_GAME_OK,
    UUID_TEXT,
    reply,
)

SCHEMAS = "#/components/schemas/"

_UUID = {"type": "string", "pattern": UUID_TEXT}
_ROOM_ID = {**_UUID, "description": "The room's id, as create_room_ok or join_room_ok gave it."}
_SEAT_INDEX = {"type": "integer", "minimum": 0, "maximum": SEAT_COUNT - 1}
_VERSION = {
    "type": "integer",
    "minimum": 0,
    "description": "The room's version after this request; +1 per change.",
}


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


@dataclass(frozen=True, slots=True)
class LobbyRequest:
    """One request of the lobby and its success reply."""

    type: str
    name: str  # the camelCase stem of the document's names
    title: str
    payload: dict[str, Any]
    example: dict[str, Any]
    reply_type: str
    reply_payload: dict[str, Any]
    reply_example: dict[str, Any]


def _example_room() -> tuple[Room, dict[UserId, str]]:
    host, guest = UserId(uuid.UUID(EXAMPLE_USER_ID)), UserId(uuid.UUID(int=2))
    room = Room.open(
        room_id=RoomId(uuid.UUID(EXAMPLE_ROOM_ID)),
        owner=host,
        code=RoomCode(EXAMPLE_CODE),
        settings=RoomSettings(Visibility.PRIVATE, 4, "classic", {}),
    )
    return room.join(guest, "Bea").room, {host: "Ann", guest: "Bea"}


def _snapshot() -> dict[str, Any]:
    room, names = _example_room()
    return snapshot(room, names, connected=frozenset(names))


ROOM_SCHEMA: dict[str, Any] = _object(
    {
        "room_id": _UUID,
        "code": {"type": "string", "minLength": CODE_LENGTH, "maxLength": CODE_LENGTH},
        "status": {"enum": [s.value for s in RoomStatus]},
        "visibility": {"enum": [v.value for v in Visibility]},
        "max_players": {"type": "integer", "minimum": 2, "maximum": SEAT_COUNT},
        "ruleset_id": {"type": "string"},
        "ruleset_config": {"type": "object"},
        "version": _VERSION,
        "host_seat": {"type": ["integer", "null"], "minimum": 0, "maximum": SEAT_COUNT - 1},
        "seats": {
            "type": "array",
            "maxItems": SEAT_COUNT,
            "description": "The usable seats (max_players of them), by index.",
            "items": _object(
                {
                    "seat_index": _SEAT_INDEX,
                    "status": {"enum": [s.value for s in SeatStatus]},
                    "user_id": {"type": ["string", "null"], "pattern": UUID_TEXT},
                    "display_name": {"type": ["string", "null"]},
                    "is_host": {"type": "boolean"},
                    "ready": {"type": "boolean"},
                    "connected": {"type": "boolean"},
                }
            ),
        },
    },
    "The whole lobby: a snapshot. An empty seat has user_id and display_name null.",
)


def _request(type_: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, "request_id": EXAMPLE_REQUEST_ID, "payload": payload}


def _reply(type_: str, payload: dict[str, Any]) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(reply(type_, EXAMPLE_REQUEST_ID, payload).text)
    return frame


_ON_ROOM = {"room_id": EXAMPLE_ROOM_ID}

REQUESTS: tuple[LobbyRequest, ...] = (
    LobbyRequest(
        JOIN_ROOM,
        "joinRoom",
        "Join a room by its code; the connection then follows the room's events.",
        _object(
            {
                "code": {
                    "type": "string",
                    "description": (
                        "The room's code as a person typed it: case-insensitive, I and L read"
                        " as 1, O as 0, spaces and hyphens ignored; anything else that is not"
                        f" {CODE_LENGTH} Crockford characters is validation_failed."
                    ),
                }
            }
        ),
        _request(JOIN_ROOM, {"code": "ab12-cd"}),
        JOIN_ROOM_OK,
        _object(
            {
                "room_id": _UUID,
                "seat_index": _SEAT_INDEX,
                "is_host": {"type": "boolean"},
                "version": _VERSION,
                "room": {"$ref": SCHEMAS + "Room"},
            }
        ),
        _reply(
            JOIN_ROOM_OK,
            {
                "room_id": EXAMPLE_ROOM_ID,
                "seat_index": 1,
                "is_host": False,
                "version": 1,
                "room": _snapshot(),
            },
        ),
    ),
    LobbyRequest(
        LEAVE_ROOM,
        "leaveRoom",
        "Give up one's seat; host succession, and closing when the room empties.",
        _object({"room_id": _ROOM_ID}),
        _request(LEAVE_ROOM, _ON_ROOM),
        LEAVE_ROOM_OK,
        _object({"room_id": _UUID, "version": _VERSION}),
        _reply(LEAVE_ROOM_OK, {**_ON_ROOM, "version": 2}),
    ),
    LobbyRequest(
        SET_READY,
        "setReady",
        "Say whether one is ready; the value it already has changes nothing.",
        _object({"room_id": _ROOM_ID, "ready": {"type": "boolean"}}),
        _request(SET_READY, {**_ON_ROOM, "ready": True}),
        SET_READY_OK,
        _object(
            {
                "room_id": _UUID,
                "seat_index": _SEAT_INDEX,
                "ready": {"type": "boolean"},
                "version": _VERSION,
            }
        ),
        _reply(SET_READY_OK, {**_ON_ROOM, "seat_index": 1, "ready": True, "version": 2}),
    ),
    LobbyRequest(
        KICK_PLAYER,
        "kickPlayer",
        "The host empties another player's seat.",
        _object(
            {
                "room_id": _ROOM_ID,
                "seat_index": {
                    "type": "integer",
                    "description": (
                        "Another player's seat, below max_players; out of range is"
                        " validation_failed, judged after the room's state."
                    ),
                },
            }
        ),
        _request(KICK_PLAYER, {**_ON_ROOM, "seat_index": 1}),
        KICK_PLAYER_OK,
        _object({"room_id": _UUID, "seat_index": _SEAT_INDEX, "version": _VERSION}),
        _reply(KICK_PLAYER_OK, {**_ON_ROOM, "seat_index": 1, "version": 2}),
    ),
    LobbyRequest(
        START_GAME,
        "startGame",
        "The host starts the game: at least 2 occupied seats, all of them ready.",
        _object({"room_id": _ROOM_ID}),
        _request(START_GAME, _ON_ROOM),
        START_GAME_OK,
        _object({"room_id": _UUID, "version": _VERSION}),
        _reply(START_GAME_OK, {**_ON_ROOM, "version": 4}),
    ),
    LobbyRequest(
        GET_ROOM,
        "getRoom",
        "The snapshot, for members; a read (no version bump, nothing stored). Follows the room.",
        _object({"room_id": _ROOM_ID}),
        _request(GET_ROOM, _ON_ROOM),
        ROOM,
        _object({"room": {"$ref": SCHEMAS + "Room"}}),
        _reply(ROOM, {"room": _snapshot()}),
    ),
)


# --- events: one schema per class of the domain --------------------------------------------


def event_classes() -> list[type[LobbyEvent]]:
    """Every concrete event the model makes, in the order of ``rooms_domain.events``."""
    found = []
    for value in vars(domain_events).values():
        if isinstance(value, type) and issubclass(value, LobbyEvent) and "type" in vars(value):
            found.append(value)
    return found


def _field_schema(hint: Any) -> dict[str, Any]:
    if hint in (RoomId, UserId):
        return dict(_UUID)
    if hint is int:
        return {"type": "integer"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is str:
        return {"type": "string"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [m.value for m in hint]}
    if isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        schema = _field_schema(inner)
        return {**schema, "type": [schema["type"], "null"]}
    raise TypeError(f"no JSON Schema for an event field of type {hint!r}")


# When each event is published (docs/protocol.md §17).
EVENT_AFTER: dict[str, str] = {
    "player_joined": "After a join_room that took a seat.",
    "player_left": "After leave_room, kick_player, or a held seat that ran out (reason says"
    " which).",
    "host_changed": "After the host's seat emptied: the lowest occupied seat is the new host.",
    "player_ready": "After a set_ready that changed the value.",
    "game_started": "After start_game.",
    "room_closed": "After the last occupied seat emptied; the room is gone.",
    "player_disconnected": "The player's last socket following the room is gone (or its"
    " instance died); the seat is held. No version bump.",
    "player_reconnected": "A socket of a disconnected player follows the room again (join_room"
    " or get_room). No version bump.",
}


def _schema_name(cls: type[LobbyEvent]) -> str:
    return cls.__name__ + "Event"


def event_schema(cls: type[LobbyEvent]) -> dict[str, Any]:
    """The frame of one event type: the envelope, request_id null, its typed payload."""
    hints = typing.get_type_hints(cls)
    payload = _object({f.name: _field_schema(hints[f.name]) for f in dataclasses.fields(cls)})
    payload["properties"]["version"] = _VERSION
    schema = _object(
        {
            "type": {"type": "string", "const": cls.type},
            "request_id": {"type": "null"},
            "payload": payload,
        },
        EVENT_AFTER[cls.type],
    )
    schema["title"] = cls.type
    return schema


def _example_event(cls: type[LobbyEvent]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if hint is RoomId:
            values[f.name] = RoomId(uuid.UUID(EXAMPLE_ROOM_ID))
        elif hint is UserId:
            values[f.name] = UserId(uuid.UUID(EXAMPLE_USER_ID))
        elif f.name == "version":
            values[f.name] = 2
        elif f.name == "seat_index":
            values[f.name] = 1
        elif hint is bool:
            values[f.name] = True
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            values[f.name] = next(iter(hint))
        else:
            values[f.name] = "Bea"
    return event_frame(cls(**values))


def schemas() -> dict[str, Any]:
    """``components/schemas`` of the lobby: payloads, replies, the snapshot, each event."""
    result: dict[str, Any] = {"Room": ROOM_SCHEMA}
    for r in REQUESTS:
        stem = r.name[0].upper() + r.name[1:]
        result[stem + "Payload"] = r.payload
        result[stem + "Request"] = _object(
            {
                "type": {"type": "string", "const": r.type},
                "request_id": _UUID,
                "payload": {"$ref": SCHEMAS + stem + "Payload"},
            },
            r.title,
        )
        result[stem + "Ok"] = _object(
            {
                "type": {"type": "string", "const": r.reply_type},
                "request_id": _UUID,
                "payload": r.reply_payload,
            },
            f"The reply to {r.type} (also to a repeat of it: the identical frame).",
        )
    for cls in event_classes():
        result[_schema_name(cls)] = event_schema(cls)
    return result


def messages(correlation: dict[str, Any]) -> dict[str, Any]:
    """``components/messages`` of the lobby: each request, its reply, each event."""
    found: dict[str, Any] = {}
    for r in REQUESTS:
        stem = r.name[0].upper() + r.name[1:]
        found[r.name] = {
            "name": r.type,
            "title": r.type,
            "summary": r.title,
            "payload": {"$ref": SCHEMAS + stem + "Request"},
            "correlationId": correlation,
            "examples": [{"name": r.type, "payload": r.example}],
        }
        found[r.name + "Ok"] = {
            "name": r.reply_type,
            "title": r.reply_type,
            "summary": f"The reply to {r.type}.",
            "payload": {"$ref": SCHEMAS + stem + "Ok"},
            "correlationId": correlation,
            "examples": [{"name": r.reply_type, "payload": r.reply_example}],
        }
    for cls in event_classes():
        name = cls.__name__[0].lower() + cls.__name__[1:]
        found[name] = {
            "name": cls.type,
            "title": cls.type,
            "summary": EVENT_AFTER[cls.type],
            "payload": {"$ref": SCHEMAS + _schema_name(cls)},
            "examples": [{"name": cls.type, "payload": _example_event(cls)}],
        }
    return found


def request_operation(ws: str, name: str, title: str, description: str = "") -> dict[str, Any]:
    """A request the server receives on ``ws``: message ``name``, replied ``nameOk`` or error."""
    described = {"description": description} if description else {}
    return {
        "action": "receive",
        "title": title,
        **described,
        "channel": {"$ref": ws},
        "messages": [{"$ref": f"{ws}/messages/{name}"}],
        "reply": {
            "channel": {"$ref": ws},
            "messages": [
                {"$ref": f"{ws}/messages/{name}Ok"},
                {"$ref": f"{ws}/messages/error"},
            ],
        },
    }


def send_operation(ws: str, message: str, title: str) -> dict[str, Any]:
    """A frame the server sends on ``ws`` unasked: message ``message``."""
    return {
        "action": "send",
        "title": title,
        "channel": {"$ref": ws},
        "messages": [{"$ref": f"{ws}/messages/{message}"}],
    }


def operations(ws: str) -> dict[str, Any]:
    """One operation per request (receive, with its replies), one per event (send)."""
    found = {r.name: request_operation(ws, r.name, r.title) for r in REQUESTS}
    for cls in event_classes():
        name = cls.__name__[0].lower() + cls.__name__[1:]
        title = f"{cls.type}: an event of a room the connection follows"
        found["send" + cls.__name__] = send_operation(ws, name, title)
    return found


def message_names() -> list[str]:
    names = [n for r in REQUESTS for n in (r.name, r.name + "Ok")]
    return names + [c.__name__[0].lower() + c.__name__[1:] for c in event_classes()]
