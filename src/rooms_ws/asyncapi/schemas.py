"""The document's JSON Schemas: the server's frame models, specialised per message type.

The envelope and the error payload come from the pydantic models of
:mod:`rooms_ws.messages` (``model_json_schema``). The create_room payload is
stated from the domain's own constants and defaults (``rooms_domain``), so the
document shows the rules of a room wherever the server checks them; the tests
check that it refuses what the server refuses.
"""

from __future__ import annotations

import copy
import uuid
import warnings
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import PydanticJsonSchemaWarning, models_json_schema

from rooms_domain.model import (
    CODE_ALPHABET,
    CODE_LENGTH,
    MAX_PLAYERS,
    MIN_PLAYERS,
    SEAT_COUNT,
    SETTINGS_FIELDS,
    SUPPORTED_RULESETS,
    Visibility,
)
from rooms_domain.payloads import REQUIRED
from rooms_ws.asyncapi import lobby, prose
from rooms_ws.errors import RETRYABLE, ErrorCode
from rooms_ws.messages import (
    CREATE_ROOM,
    CREATE_ROOM_OK,
    ERROR,
    UUID_TEXT,
    ErrorPayload,
    RequestEnvelope,
    ServerMessage,
)

SCHEMAS = "#/components/schemas/"


class CreateRoomOkPayload(BaseModel):
    """The new room, and the caller's seat in it (docs/protocol.md §10)."""

    # The server builds this payload with ``CreateRoomOk.to_payload``; the unit
    # test checks that every payload it makes validates here.
    model_config = ConfigDict(extra="forbid", strict=True)

    room_id: uuid.UUID
    code: Annotated[str, Field(pattern=f"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")]
    seat_index: Annotated[int, Field(ge=0, le=SEAT_COUNT - 1)]
    is_host: bool


def schemas() -> dict[str, Any]:
    """``components/schemas``: one schema per message, and the parts they share."""
    models = _model_schemas()
    envelope, server = models["RequestEnvelope"], models["ServerMessage"]
    result = {
        "CreateRoomRequest": _frame(
            envelope,
            CREATE_ROOM,
            {"$ref": SCHEMAS + "CreateRoomPayload"},
            "create_room: the envelope with its payload (a missing payload is validation_failed).",
            required_payload=True,
        ),
        "CreateRoomOk": _frame(
            server,
            CREATE_ROOM_OK,
            {"$ref": SCHEMAS + "CreateRoomOkPayload"},
            "The reply to create_room (also to a repeat of it: the identical frame).",
            request_id={"type": "string", "pattern": UUID_TEXT},
        ),
        "Error": _frame(
            server,
            ERROR,
            {
                "allOf": [
                    {"$ref": SCHEMAS + "ErrorPayload"},
                    {"oneOf": [_retryable_rule(code) for code in ErrorCode]},
                ]
            },
            "An error never closes the connection; retryable is fixed per code.",
        ),
        "RoomEvent": _frame(
            server,
            None,
            {"type": "object", "description": "What happened; its fields depend on the type."},
            prose.ROOM_EVENTS,
            request_id={"type": "null", "description": "Always null: an event answers no request."},
        ),
        "CreateRoomPayload": create_room_payload(),
        **lobby.schemas(),
    }
    for name in ("CreateRoomOkPayload", "ErrorPayload"):
        result[name] = models[name]
    # The models' docstrings speak to the server's developers; these speak to a client's.
    models["RequestEnvelope"]["description"] = prose.CLIENT_FRAME
    models["ServerMessage"]["description"] = prose.SERVER_FRAME
    for name, schema in models.items():
        result.setdefault(name, schema)  # ErrorCode, ErrorDetail
    return result


def create_room_payload() -> dict[str, Any]:
    """The create_room payload: the domain's rules and defaults, as JSON Schema."""
    fields = SETTINGS_FIELDS

    def default(name: str) -> Any:
        return copy.deepcopy(fields[name].default)

    properties: dict[str, Any] = {
        "visibility": {"const": Visibility.PRIVATE.value, "default": default("visibility")},
        "max_players": {
            "type": "integer",
            "minimum": MIN_PLAYERS,
            "maximum": MAX_PLAYERS,
            "default": default("max_players"),
        },
        "ruleset_id": {"enum": sorted(SUPPORTED_RULESETS)},
        "ruleset_config": {"type": "object", "default": default("ruleset_config")},
    }
    for field, note in prose.PAYLOAD_NOTES.items():
        properties[field]["description"] = note
    return {
        "type": "object",
        "title": "CreateRoomPayload",
        "description": "Any other field is validation_failed.",
        "properties": properties,
        "required": [name for name, f in fields.items() if f.default is REQUIRED],
        "additionalProperties": False,
    }


def _model_schemas() -> dict[str, Any]:
    """The frame models' JSON Schemas, with references into ``components/schemas``."""
    with warnings.catch_warnings():
        # RequestEnvelope marks an absent payload with a sentinel default that
        # has no JSON form; the schema simply shows no default for it.
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
        _, bundle = models_json_schema(
            [
                (RequestEnvelope, "validation"),
                (ServerMessage, "serialization"),
                (CreateRoomOkPayload, "serialization"),
                (ErrorPayload, "serialization"),
            ],
            ref_template=SCHEMAS + "{model}",
        )
    found: dict[str, Any] = bundle["$defs"]
    return found


def _frame(
    base: dict[str, Any],
    type_: str | None,
    payload: dict[str, Any],
    description: str,
    *,
    required_payload: bool = False,
    request_id: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An envelope model's schema, specialised to one message type (or to any, for events)."""
    schema = copy.deepcopy(base)
    schema["title"] = type_ or "RoomEvent"
    schema["description"] = description
    schema["properties"]["type"] = (
        {"type": "string", "const": type_}
        if type_ is not None
        else {"type": "string", "description": "The event's name."}
    )
    schema["properties"]["payload"] = payload
    if request_id is not None:
        schema["properties"]["request_id"] = request_id
    if required_payload and "payload" not in schema["required"]:
        schema["required"] = [*schema["required"], "payload"]
    return schema


def _retryable_rule(code: ErrorCode) -> dict[str, Any]:
    return {
        "title": code.value,
        "description": prose.WHEN[code],
        "properties": {
            "code": {"const": code.value},
            "retryable": {"const": RETRYABLE[code]},
        },
    }
