"""The AsyncAPI 3.0 document of the service, built from the wire models.

The JSON Schemas come from the pydantic models of :mod:`rooms_ws.messages`
(``model_json_schema``); the examples are frames made by the same functions
the server answers with (``reply``, ``error_reply``, ``to_wire``). Nothing
about a message is written twice, so a change to the models changes this
document, and ``tests/unit/test_asyncapi.py`` fails until ``docs/asyncapi.yaml``
is regenerated:

    .venv/bin/python -m rooms_ws.asyncapi > docs/asyncapi.yaml

The document describes the server (the application): it *receives*
``create_room`` on ``/ws`` and replies, *sends* room events on ``/ws``, and
*receives* them from the Redis channel ``room:{room_id}:events``.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import sys
import uuid
import warnings
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import PydanticJsonSchemaWarning, models_json_schema

from rooms_domain.errors import (
    IdempotencyKeyReused,
    Problem,
    RequestInProgress,
    StoreUnavailable,
    ValidationFailed,
)
from rooms_domain.model import (
    CODE_ALPHABET,
    CODE_LENGTH,
    MAX_RULESET_CONFIG_BYTES,
    CreateRoomOk,
    RoomCode,
    RoomId,
    Ruleset,
)
from rooms_ws.errors import INTERNAL, RETRYABLE, CloseCode, ErrorCode, WireError, to_wire
from rooms_ws.messages import (
    CREATE_ROOM,
    CREATE_ROOM_OK,
    ERROR,
    UUID_TEXT,
    CreateRoomPayload,
    ErrorPayload,
    FrameRejected,
    RequestEnvelope,
    ServerMessage,
    error_reply,
    parse_frame,
    reply,
)
from rooms_ws.plain_yaml import dump
from rooms_ws.session import RATE_LIMITED, UNKNOWN_TYPE

__all__ = ["CreateRoomOkPayload", "document", "render_yaml"]

ASYNCAPI_VERSION = "3.0.0"
SCHEMAS = "#/components/schemas/"
REGENERATE = ".venv/bin/python -m rooms_ws.asyncapi > docs/asyncapi.yaml"


class CreateRoomOkPayload(BaseModel):
    """The new room, and the caller's seat in it (contract §4)."""

    # The server builds this payload with ``CreateRoomOk.to_payload``; the unit
    # test checks that every payload it makes validates here.
    model_config = ConfigDict(extra="forbid", strict=True)

    room_id: uuid.UUID
    code: Annotated[str, Field(pattern=f"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")]
    seat_index: Annotated[int, Field(ge=0, le=3)]
    is_host: bool


# Prose for people, keyed by what it describes; the tests check the keys.
WHEN: dict[ErrorCode, str] = {
    ErrorCode.BAD_MESSAGE: (
        "not JSON, not an object, a binary frame, a missing or non-UUID request_id,"
        " a missing type (request_id is echoed when it was readable)"
    ),
    ErrorCode.UNKNOWN_TYPE: "type is not a known request",
    ErrorCode.VALIDATION_FAILED: (
        'the payload breaks a rule; details holds one {"field", "problem"} per broken rule'
    ),
    ErrorCode.REQUEST_IN_PROGRESS: (
        "the same request_id of this user is still being processed; retry it unchanged"
    ),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: (
        "the same request_id was used before by this user with a different payload"
    ),
    ErrorCode.RATE_LIMITED: "the connection sends faster than its limit",
    ErrorCode.UNAVAILABLE: "PostgreSQL is unreachable or too slow; nothing was created",
    ErrorCode.INTERNAL_ERROR: "anything else; nothing half-done is left behind",
}

# The contract's rules that JSON Schema cannot state (or states loosely).
PAYLOAD_NOTES: dict[str, str] = {
    "visibility": 'only "private" rooms exist for now',
    "max_players": (
        'a JSON integer from 2 to 4, written as one: true, "4" and 3.0 are refused'
        " (JSON Schema would accept 3.0)"
    ),
    "ruleset_id": 'only "classic" for now',
    "ruleset_config": (
        f"a JSON object of at most {MAX_RULESET_CONFIG_BYTES} bytes as compact JSON; default {{}}"
    ),
}

CLOSE_CODES: dict[int, str] = {
    1001: "going away (a proxy or the server shutting down): reconnect",
    CloseCode.TOO_LARGE: "a frame was larger than ROOMS_MAX_MESSAGE_BYTES",
    CloseCode.SERVICE_RESTART: (
        "server restarting: reconnect (elsewhere) and resend the last unanswered request_id"
    ),
    CloseCode.TOKEN_EXPIRED: "the token expired while connected: reconnect with a fresh token",
    CloseCode.RATE_ABUSE: "closed for sustained abuse of the rate limit",
    CloseCode.SLOW_CONSUMER: "too slow reading: the outgoing queue overflowed",
}

# Fixed values, so the document is the same on every run.
EXAMPLE_REQUEST_ID = "0b5d8a7e-3c1f-4e2a-9b6d-2f4e6a8c0d13"
EXAMPLE_ROOM_ID = "6f1c2e9a-8d4b-4c3e-a1f7-5b9d0e2c4a68"
EXAMPLE_CODE = "AB12CD"


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as JSON data."""
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(),
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": _channels(),
        "operations": _operations(),
        "components": {
            "schemas": _schemas(),
            "messages": _messages(),
            "securitySchemes": _security_schemes(),
        },
    }


def render_yaml() -> str:
    """The document as YAML: what ``docs/asyncapi.yaml`` holds."""
    header = (
        "# Generated from the wire models (rooms_ws.asyncapi); do not edit by hand.\n"
        f"# Regenerate: {REGENERATE}\n"
    )
    return header + dump(document())


# --- info, servers, security ---------------------------------------------------------


def _info() -> dict[str, Any]:
    return {
        "title": "rooms",
        "version": importlib.metadata.version("rooms"),
        "description": (
            "Private rooms for a 2-4 player game over one WebSocket per client.\n"
            "\n"
            "Every frame is a UTF-8 text frame holding one JSON object. A client sends\n"
            '`{"type", "request_id", "payload"}` and gets exactly one reply with the same\n'
            "`request_id`: the result, or an `error`. Replies are idempotent per (user,\n"
            "`request_id`): resending a request after a lost reply returns the same result\n"
            "and never creates a second room, so a client retries with the SAME id.\n"
            "After `create_room_ok` the connection also receives the room's events.\n"
            "\n"
            "Close codes a client meets:\n"
            "\n"
            "| code | meaning |\n"
            "|---|---|\n" + "".join(f"| {code} | {text} |\n" for code, text in CLOSE_CODES.items())
        ).rstrip("\n"),
        "license": {"name": "MIT"},
    }


def _servers() -> dict[str, Any]:
    return {
        "rooms": {
            "host": "{host}:{port}",
            "protocol": "ws",
            "title": "rooms serve",
            "description": (
                "The WebSocket endpoint; it serves no other HTTP route. Behind a TLS proxy,"
                " use wss."
            ),
            "variables": {
                "host": {"default": "127.0.0.1", "description": "ROOMS_HOST"},
                "port": {"default": "8000", "description": "ROOMS_PORT"},
            },
            "security": [
                {"$ref": "#/components/securitySchemes/bearerHeader"},
                {"$ref": "#/components/securitySchemes/accessTokenQuery"},
            ],
        },
        "redis": {
            "host": "{redis}",
            "protocol": "redis",
            "title": "Redis pub/sub shared by every server instance",
            "variables": {"redis": {"default": "127.0.0.1:6379", "description": "ROOMS_REDIS_URL"}},
        },
    }


_TOKEN_TEXT = (
    "A JWT signed with HS256 (ROOMS_JWT_SECRET), `sub` = the user's UUID, `exp` required;"
    " `rooms token USER_ID` prints one. A missing, malformed, expired or wrongly signed token,"
    " or a `sub` that is not a user, refuses the handshake with HTTP 401."
)


def _security_schemes() -> dict[str, Any]:
    return {
        "bearerHeader": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": f"`Authorization: Bearer <token>` at the handshake. {_TOKEN_TEXT}",
        },
        "accessTokenQuery": {
            "type": "httpApiKey",
            "name": "access_token",
            "in": "query",
            "description": (
                "`?access_token=<token>` on the URL, for browsers (they cannot set headers)."
                " When an Authorization header is present it wins. The query string is never"
                f" logged. {_TOKEN_TEXT}"
            ),
        },
    }


# --- channels and operations -----------------------------------------------------------


def _channels() -> dict[str, Any]:
    messages = {
        name: {"$ref": f"#/components/messages/{name}"}
        for name in ("createRoom", "createRoomOk", "error", "roomEvent")
    }
    return {
        "ws": {
            "address": "/ws",
            "title": "The WebSocket",
            "description": (
                "One connection per client. The handshake is refused before any socket is"
                " opened, with nothing written: 401 (token), 403 (an Origin not in"
                " ROOMS_ALLOWED_ORIGINS), 429 (too many connections of this user),"
                " 503 (the server is full)."
            ),
            "servers": [{"$ref": "#/servers/rooms"}],
            "messages": messages,
            "bindings": {
                "ws": {
                    "method": "GET",
                    "query": {
                        "type": "object",
                        "properties": {
                            "access_token": {
                                "type": "string",
                                "description": "The token, when no Authorization header is sent.",
                            }
                        },
                    },
                    "headers": {
                        "type": "object",
                        "properties": {
                            "Authorization": {
                                "type": "string",
                                "pattern": "^Bearer .+$",
                                "description": "Bearer <token>",
                            },
                            "Origin": {
                                "type": "string",
                                "description": (
                                    "Sent by browsers; must be in ROOMS_ALLOWED_ORIGINS"
                                    " (else HTTP 403). Native clients send none."
                                ),
                            },
                        },
                    },
                    "bindingVersion": "0.1.0",
                }
            },
        },
        "roomEvents": {
            "address": "room:{room_id}:events",
            "title": "A room's events",
            "description": (
                "A Redis pub/sub channel. After `create_room_ok` the connection is subscribed to"
                " its room's channel: every message published there, by any server instance,"
                " reaches the connection as one text frame, unchanged. Messages published"
                " while a client is reconnecting are not kept."
            ),
            "servers": [{"$ref": "#/servers/redis"}],
            "parameters": {"room_id": {"description": "The room_id of create_room_ok."}},
            "messages": {"roomEvent": {"$ref": "#/components/messages/roomEvent"}},
        },
    }


def _operations() -> dict[str, Any]:
    ws, events = "#/channels/ws", "#/channels/roomEvents"
    return {
        "createRoom": {
            "action": "receive",
            "title": "Create a private room",
            "description": (
                "Creates the room and its four seats, the caller in seat 0 as host, in one"
                " transaction, then subscribes the connection to the room's events."
            ),
            "channel": {"$ref": ws},
            "messages": [{"$ref": f"{ws}/messages/createRoom"}],
            "reply": {
                "channel": {"$ref": ws},
                "messages": [
                    {"$ref": f"{ws}/messages/createRoomOk"},
                    {"$ref": f"{ws}/messages/error"},
                ],
            },
        },
        "sendRoomEvent": {
            "action": "send",
            "title": "Relay a room event to the client",
            "channel": {"$ref": ws},
            "messages": [{"$ref": f"{ws}/messages/roomEvent"}],
        },
        "receiveRoomEvent": {
            "action": "receive",
            "title": "Follow a room's events (one Redis subscriber connection per process)",
            "channel": {"$ref": events},
            "messages": [{"$ref": f"{events}/messages/roomEvent"}],
        },
    }


# --- schemas ---------------------------------------------------------------------------


def _model_schemas() -> dict[str, Any]:
    """Every model's JSON Schema, with references into ``components/schemas``."""
    with warnings.catch_warnings():
        # RequestEnvelope marks an absent payload with a sentinel default that
        # has no JSON form; the schema simply shows no default for it.
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
        _, bundle = models_json_schema(
            [
                (RequestEnvelope, "validation"),
                (CreateRoomPayload, "validation"),
                (ServerMessage, "serialization"),
                (CreateRoomOkPayload, "serialization"),
                (ErrorPayload, "serialization"),
            ],
            ref_template=SCHEMAS + "{model}",
        )
    schemas: dict[str, Any] = bundle["$defs"]
    return schemas


def _schemas() -> dict[str, Any]:
    models = _model_schemas()
    envelope, server = models["RequestEnvelope"], models["ServerMessage"]
    schemas = {
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
        "RoomEvent": {
            "type": "object",
            "title": "RoomEvent",
            "description": (
                "Whatever was published on room:{room_id}:events, unchanged. It carries no"
                " request_id of a pending request, which is how a client tells it from a reply."
            ),
        },
    }
    for name in ("CreateRoomPayload", "CreateRoomOkPayload", "ErrorPayload"):
        schemas[name] = models[name]
    fields = schemas["CreateRoomPayload"]["properties"]
    for field, note in PAYLOAD_NOTES.items():
        fields[field]["description"] = note
    for name, schema in models.items():
        schemas.setdefault(name, schema)  # ErrorCode, ErrorDetail
    return schemas


def _frame(
    base: dict[str, Any],
    type_: str,
    payload: dict[str, Any],
    description: str,
    *,
    required_payload: bool = False,
    request_id: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An envelope model's schema, specialised to one message type."""
    schema = copy.deepcopy(base)
    schema["title"] = type_
    schema["description"] = description
    schema["properties"]["type"] = {"type": "string", "const": type_}
    schema["properties"]["payload"] = payload
    if request_id is not None:
        schema["properties"]["request_id"] = request_id
    if required_payload and "payload" not in schema["required"]:
        schema["required"] = [*schema["required"], "payload"]
    return schema


def _retryable_rule(code: ErrorCode) -> dict[str, Any]:
    return {
        "title": code.value,
        "description": WHEN[code],
        "properties": {
            "code": {"const": code.value},
            "retryable": {"const": RETRYABLE[code]},
        },
    }


# --- messages and their examples --------------------------------------------------------


_CORRELATION = {
    "description": "A reply carries the request's request_id.",
    "location": "$message.payload#/request_id",
}


def _messages() -> dict[str, Any]:
    table = "".join(
        f"| `{code.value}` | {str(RETRYABLE[code]).lower()} | {WHEN[code]} |\n"
        for code in ErrorCode
    )
    return {
        "createRoom": {
            "name": CREATE_ROOM,
            "title": "create_room",
            "summary": "Create a private room; the caller becomes its host.",
            "payload": {"$ref": SCHEMAS + "CreateRoomRequest"},
            "correlationId": _CORRELATION,
            "examples": [
                {"name": "defaults", "payload": _request_example()},
                {"name": "two_players", "payload": _request_example(max_players=2)},
            ],
        },
        "createRoomOk": {
            "name": CREATE_ROOM_OK,
            "title": "create_room_ok",
            "summary": "The room was created (or this is the replay of its creation).",
            "payload": {"$ref": SCHEMAS + "CreateRoomOk"},
            "correlationId": _CORRELATION,
            "examples": [{"name": "created", "payload": _ok_example()}],
        },
        "error": {
            "name": ERROR,
            "title": "error",
            "summary": "The request was not served; retry only when retryable is true.",
            "description": (
                "Retry a retryable error with the SAME request_id, after a jittered backoff.\n"
                "`request_id` is null when the request's id could not be read.\n"
                "\n"
                "| code | retryable | when |\n"
                "|---|---|---|\n" + table
            ).rstrip("\n"),
            "payload": {"$ref": SCHEMAS + "Error"},
            "correlationId": _CORRELATION,
            "examples": [
                {"name": code.value, "summary": WHEN[code], "payload": _error_example(code)}
                for code in ErrorCode
            ],
        },
        "roomEvent": {
            "name": "room_event",
            "title": "room event",
            "summary": "A message published on the room's channel, relayed unchanged.",
            "payload": {"$ref": SCHEMAS + "RoomEvent"},
            "examples": [
                {
                    "name": "relayed",
                    "summary": "Illustrative: the service relays whatever is published.",
                    "payload": {
                        "type": "seat_updated",
                        "room_id": EXAMPLE_ROOM_ID,
                        "payload": {"seat_index": 1, "status": "occupied"},
                    },
                }
            ],
        },
    }


def _request_example(**payload: Any) -> dict[str, Any]:
    fields = CreateRoomPayload(ruleset_id=Ruleset.CLASSIC, **payload).model_dump(mode="json")
    return {"type": CREATE_ROOM, "request_id": EXAMPLE_REQUEST_ID, "payload": fields}


def _ok_example() -> dict[str, Any]:
    created = CreateRoomOk(RoomId(uuid.UUID(EXAMPLE_ROOM_ID)), RoomCode(EXAMPLE_CODE))
    return _loads(reply(CREATE_ROOM_OK, EXAMPLE_REQUEST_ID, created.to_payload()).text)


def _error_example(code: ErrorCode) -> dict[str, Any]:
    request_id: str | None = EXAMPLE_REQUEST_ID
    if code is ErrorCode.BAD_MESSAGE:
        try:
            parse_frame("create me a room")
        except FrameRejected as rejected:
            error, request_id = rejected.error, rejected.request_id
    else:
        error = _EXAMPLE_ERRORS[code]
    assert error.code is code, f"the example of {code} is a {error.code}"
    return _loads(error_reply(error, request_id).text)


_EXAMPLE_ERRORS: dict[ErrorCode, WireError] = {
    ErrorCode.UNKNOWN_TYPE: UNKNOWN_TYPE,
    ErrorCode.VALIDATION_FAILED: to_wire(
        ValidationFailed([Problem("max_players", "must be an integer from 2 to 4")])
    ),
    ErrorCode.REQUEST_IN_PROGRESS: to_wire(RequestInProgress()),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: to_wire(IdempotencyKeyReused()),
    ErrorCode.RATE_LIMITED: RATE_LIMITED,
    ErrorCode.UNAVAILABLE: to_wire(StoreUnavailable()),
    ErrorCode.INTERNAL_ERROR: INTERNAL,
}


def _loads(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


# --- `python -m rooms_ws.asyncapi` ------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rooms asyncapi", description="Print the AsyncAPI 3.0 document of the service."
    )
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
    args = parser.parse_args(argv)
    if args.format == "json":
        sys.stdout.write(json.dumps(document(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_yaml())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
