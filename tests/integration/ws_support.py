"""Helpers for WebSocket tests: tokens, clients, frames, and servers to talk to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.ports import free_port as free_port  # the tests import it from here
from rooms_domain import UserId
from rooms_ws.auth import issue_token

SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
REPLY_TIMEOUT_S = 10.0
# A string tests put only inside payloads and frames: a server log holding it
# holds a payload (see the log sweep in conftest.py).
PAYLOAD_MARKER = "payload-marker-7f3a9c"
# Every token this test run issued: none may ever appear in a server log.
ISSUED_TOKENS: list[str] = []


def token_for(user_id: UserId | uuid.UUID | str, *, ttl_s: int = 600, secret: str = SECRET) -> str:
    token = issue_token(secret, UserId(uuid.UUID(str(user_id))), ttl_s)
    ISSUED_TOKENS.append(token)
    return token


def create_room(request_id: str | None = None, **payload: Any) -> dict[str, Any]:
    body = {"ruleset_id": "classic", **payload}
    return {"type": "create_room", "request_id": request_id or str(uuid.uuid4()), "payload": body}


@contextlib.asynccontextmanager
async def client(
    url: str, token: str | None, *, origin: str | None = None, via_query: bool = False, **kw: Any
) -> AsyncIterator[ClientConnection]:
    headers = {}
    if token is not None and not via_query:
        headers["Authorization"] = f"Bearer {token}"
    if token is not None and via_query:
        url = f"{url}?access_token={token}"
    if origin is not None:
        headers["Origin"] = origin
    async with connect(url, additional_headers=headers, open_timeout=10, **kw) as ws:
        yield ws


async def ask(ws: ClientConnection, message: dict[str, Any] | str | bytes) -> dict[str, Any]:
    """Send one frame, return the next reply as JSON."""
    frame = json.dumps(message) if isinstance(message, dict) else message
    await ws.send(frame)
    return await receive(ws)


async def answer(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    """Send a request, return its reply: room events (request_id null) read past.

    For a socket that follows rooms, whose events (its own player_reconnected,
    say) may land before or after the reply.
    """
    await ws.send(json.dumps(message))
    while True:
        frame = await receive(ws)
        if frame.get("request_id") is not None:
            return frame


async def receive(ws: ClientConnection) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S)
    value: dict[str, Any] = json.loads(raw)
    return value


@contextlib.asynccontextmanager
async def replayed_create(
    url: str, user: UserId | uuid.UUID, request: dict[str, Any]
) -> AsyncIterator[tuple[ClientConnection, dict[str, Any], dict[str, Any]]]:
    """``request`` (a create_room) sent, then sent again on a new connection by the same user:
    that connection, the first reply and the replayed one."""
    async with client(url, token_for(user)) as ws:
        first = await ask(ws, request)
    async with client(url, token_for(user)) as ws:
        # The creator came back: its player_reconnected (docs/protocol.md, presence) may
        # come before or after the reply.
        replayed = await answer(ws, request)
        yield ws, first, replayed


async def refusal_status(url: str, token: str | None, **kw: Any) -> int | None:
    """The HTTP status a handshake is refused with, or None if it was accepted."""
    try:
        async with client(url, token, **kw):
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


async def close_code(ws: ClientConnection, *, within_s: float = 10.0) -> int | None:
    """Read until the server closes; the close code it sent."""
    try:
        async with asyncio.timeout(within_s):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    return None


RID = "0b5d8a7e-3c1f-4e2a-9b6d-2f4e6a8c0d13"
GOOD_PAYLOAD = {"visibility": "private", "max_players": 4, "ruleset_id": "classic"}

# (case id, frame to send, expected code, expected request_id echo)
MALFORMED_FRAMES: list[tuple[str, str | bytes, str, str | None]] = [
    ("binary", json.dumps(create_room(RID)).encode(), "bad_message", None),
    ("not-json", "create me a room", "bad_message", None),
    ("empty", "", "bad_message", None),
    ("array", "[]", "bad_message", None),
    ("string", '"create_room"', "bad_message", None),
    ("number", "42", "bad_message", None),
    ("null", "null", "bad_message", None),
    (
        "nan",
        '{"type": "create_room", "request_id": "' + RID + '", "payload": NaN}',
        "bad_message",
        None,
    ),
    ("infinity", '{"x": Infinity}', "bad_message", None),
    ("deep", "[" * 10_000 + "]" * 10_000, "bad_message", None),
    (
        "huge-int",
        '{"type": "create_room", "request_id": "' + RID + '", "payload": {"ruleset_id": '
        '"classic", "ruleset_config": {"n": 123456789012345678901234567890}}}',
        "bad_message",
        RID,
    ),
    (
        "no-request-id",
        json.dumps({"type": "create_room", "payload": GOOD_PAYLOAD}),
        "bad_message",
        None,
    ),
    (
        "non-uuid-request-id",
        json.dumps({"type": "create_room", "request_id": "42", "payload": GOOD_PAYLOAD}),
        "bad_message",
        None,
    ),
    (
        "number-request-id",
        json.dumps({"type": "create_room", "request_id": 42, "payload": GOOD_PAYLOAD}),
        "bad_message",
        None,
    ),
    ("no-type", json.dumps({"request_id": RID, "payload": GOOD_PAYLOAD}), "bad_message", RID),
    (
        "non-string-type",
        json.dumps({"type": 7, "request_id": RID, "payload": GOOD_PAYLOAD}),
        "bad_message",
        RID,
    ),
    (
        "unknown-type",
        json.dumps({"type": "delete_everything", "request_id": RID, "payload": {}}),
        "unknown_type",
        RID,
    ),
]

# (case id, payload, expected details)
INVALID_PAYLOADS: list[tuple[str, Any, list[dict[str, str]]]] = [
    (
        "public",
        {**GOOD_PAYLOAD, "visibility": "public"},
        [{"field": "visibility", "problem": 'must be "private"'}],
    ),
    (
        "bool-players",
        {**GOOD_PAYLOAD, "max_players": True},
        [{"field": "max_players", "problem": "must be an integer from 2 to 4"}],
    ),
    (
        "string-players",
        {**GOOD_PAYLOAD, "max_players": "4"},
        [{"field": "max_players", "problem": "must be an integer from 2 to 4"}],
    ),
    (
        "float-players",
        {**GOOD_PAYLOAD, "max_players": 3.0},
        [{"field": "max_players", "problem": "must be an integer from 2 to 4"}],
    ),
    (
        "one-player",
        {**GOOD_PAYLOAD, "max_players": 1},
        [{"field": "max_players", "problem": "must be an integer from 2 to 4"}],
    ),
    (
        "five-players",
        {**GOOD_PAYLOAD, "max_players": 5},
        [{"field": "max_players", "problem": "must be an integer from 2 to 4"}],
    ),
    (
        "other-ruleset",
        {**GOOD_PAYLOAD, "ruleset_id": "chess"},
        [{"field": "ruleset_id", "problem": 'must be "classic"'}],
    ),
    ("no-ruleset", {"visibility": "private"}, [{"field": "ruleset_id", "problem": "is required"}]),
    (
        "config-list",
        {**GOOD_PAYLOAD, "ruleset_config": []},
        [{"field": "ruleset_config", "problem": "must be a JSON object"}],
    ),
    (
        "config-too-big",
        {**GOOD_PAYLOAD, "ruleset_config": {"k": "x" * 4096}},
        [{"field": "ruleset_config", "problem": "must be at most 4096 bytes as compact JSON"}],
    ),
    (
        "unknown-field",
        {**GOOD_PAYLOAD, "colour": "red"},
        [{"field": "colour", "problem": "is not a field of create_room"}],
    ),
    ("payload-not-object", "classic", [{"field": "payload", "problem": "must be a JSON object"}]),
    (
        "everything-wrong",
        {"visibility": "public", "max_players": 9, "ruleset_id": "x", "ruleset_config": 1, "z": 0},
        [
            {"field": "visibility", "problem": 'must be "private"'},
            {"field": "max_players", "problem": "must be an integer from 2 to 4"},
            {"field": "ruleset_id", "problem": 'must be "classic"'},
            {"field": "ruleset_config", "problem": "must be a JSON object"},
            {"field": "z", "problem": "is not a field of create_room"},
        ],
    ),
]
