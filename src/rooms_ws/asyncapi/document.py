"""The AsyncAPI 3.0 document: the words of :mod:`.prose`, the schemas of :mod:`.schemas`
and the frames of :mod:`.examples`, put where the specification wants them.

The document describes what a client sees: the server's ``/ws`` endpoint,
how to authenticate there, the messages both ways and the close codes. How
the servers share a room's events among themselves is theirs
(``docs/operations.md``, "Internals") and stays out, so that a code generator
reading this file builds a client of the WebSocket and nothing else.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from rooms_ws.asyncapi import examples, lobby, prose
from rooms_ws.asyncapi.schemas import SCHEMAS, schemas
from rooms_ws.errors import RETRYABLE, ErrorCode
from rooms_ws.messages import CREATE_ROOM, CREATE_ROOM_OK, ERROR

ASYNCAPI_VERSION = "3.0.0"
WS = "#/channels/ws"


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as JSON data."""
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(),
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": {"ws": _ws_channel()},
        "operations": _operations(),
        "components": {
            "schemas": schemas(),
            "messages": _messages(),
            "securitySchemes": _security_schemes(),
        },
    }


def _info() -> dict[str, Any]:
    close_codes = "".join(
        f"| {code} | {meaning} | {action} |\n"
        for code, (meaning, action) in sorted(prose.CLOSE_CODES.items())
    )
    return {
        "title": prose.TITLE,
        "version": importlib.metadata.version("rooms"),
        "description": (
            f"{prose.SUMMARY}\n\nClose codes a client meets:\n\n"
            "| code | meaning | the client should |\n|---|---|---|\n" + close_codes
        ).rstrip("\n"),
        "license": {"name": "MIT"},
    }


def _servers() -> dict[str, Any]:
    return {
        "rooms": {
            "host": "{host}:{port}",
            "protocol": "ws",
            "title": "rooms serve",
            "description": prose.SERVER,
            "variables": {
                "host": {"default": "127.0.0.1", "description": "ROOMS_HOST"},
                "port": {"default": "8000", "description": "ROOMS_PORT"},
            },
            "security": [
                {"$ref": "#/components/securitySchemes/bearerHeader"},
                {"$ref": "#/components/securitySchemes/accessTokenQuery"},
            ],
        },
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "bearerHeader": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": prose.BEARER_HEADER,
        },
        "accessTokenQuery": {
            "type": "httpApiKey",
            "name": "access_token",
            "in": "query",
            "description": prose.ACCESS_TOKEN_QUERY,
        },
    }


def _ws_channel() -> dict[str, Any]:
    return {
        "address": "/ws",
        "title": "The WebSocket",
        "description": prose.CHANNEL,
        "servers": [{"$ref": "#/servers/rooms"}],
        "messages": {
            name: {"$ref": f"#/components/messages/{name}"}
            for name in (
                "createRoom",
                "createRoomOk",
                "error",
                "roomEvent",
                *lobby.message_names(),
            )
        },
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
                        "Origin": {"type": "string", "description": prose.ORIGIN_HEADER},
                    },
                },
                "bindingVersion": "0.1.0",
            }
        },
    }


def _operations() -> dict[str, Any]:
    return {
        "createRoom": lobby.request_operation(
            WS, "createRoom", "Create a private room", prose.CREATE_ROOM
        ),
        "sendRoomEvent": lobby.send_operation(
            WS, "roomEvent", "An event of a room the connection follows"
        ),
        **lobby.operations(WS),
    }


_CORRELATION = {
    "description": "A reply carries the request's request_id.",
    "location": "$message.payload#/request_id",
}


def _messages() -> dict[str, Any]:
    table = "".join(
        f"| `{code.value}` | {str(RETRYABLE[code]).lower()} | {prose.WHEN[code]} |\n"
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
                {"name": "defaults", "payload": examples.request()},
                {"name": "two_players", "payload": examples.request(max_players=2)},
            ],
        },
        "createRoomOk": {
            "name": CREATE_ROOM_OK,
            "title": "create_room_ok",
            "summary": "The room was created (or this is the replay of its creation).",
            "payload": {"$ref": SCHEMAS + "CreateRoomOk"},
            "correlationId": _CORRELATION,
            "examples": [{"name": "created", "payload": examples.create_room_ok()}],
        },
        "error": {
            "name": ERROR,
            "title": "error",
            "summary": "The request was not served; retry only when retryable is true.",
            "description": (
                f"{prose.ERROR}\n\n| code | retryable | when |\n|---|---|---|\n" + table
            ).rstrip("\n"),
            "payload": {"$ref": SCHEMAS + "Error"},
            "correlationId": _CORRELATION,
            "examples": [
                {"name": code.value, "summary": prose.WHEN[code], "payload": examples.error(code)}
                for code in ErrorCode
            ],
        },
        "roomEvent": {
            "name": "room_event",
            "title": "room event",
            "summary": "Something happened in a room the connection follows.",
            "payload": {"$ref": SCHEMAS + "RoomEvent"},
            "examples": [
                {
                    "name": "event",
                    "summary": "Illustrative: the fields of an event depend on its type.",
                    "payload": examples.room_event(),
                }
            ],
        },
        **lobby.messages(_CORRELATION),
    }
