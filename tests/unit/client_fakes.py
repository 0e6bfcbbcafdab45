"""A tiny scriptable WebSocket server on loopback, for the client's retry logic.

Each request frame it receives takes the next action of its script (the
default answers ``create_room_ok``); each handshake may be refused with the
next status of ``refusals``. Room ids derive from the request id, so a
replayed request gets the same room, as from the real server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

Action = Callable[[ServerConnection, dict[str, Any]], Awaitable[None]]


def room_of(request_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, request_id))


async def ok(ws: ServerConnection, frame: dict[str, Any]) -> None:
    rid = frame["request_id"]
    payload = {"room_id": room_of(rid), "code": "AB12CD", "seat_index": 0, "is_host": True}
    await ws.send(json.dumps({"type": "create_room_ok", "request_id": rid, "payload": payload}))


def error(code: str, retryable: bool, details: list[dict[str, str]] | None = None) -> Action:
    async def act(ws: ServerConnection, frame: dict[str, Any]) -> None:
        body = {"code": code, "message": code, "retryable": retryable, "details": details or []}
        await ws.send(
            json.dumps({"type": "error", "request_id": frame["request_id"], "payload": body})
        )

    return act


async def drop(ws: ServerConnection, frame: dict[str, Any]) -> None:
    """The connection vanishes: no reply, no close frame."""
    ws.transport.abort()


def close(code: int) -> Action:
    async def act(ws: ServerConnection, frame: dict[str, Any]) -> None:
        await ws.close(code)

    return act


async def silence(ws: ServerConnection, frame: dict[str, Any]) -> None:
    """The request is never answered (a lost reply)."""


def then(*actions: Action) -> Action:
    async def act(ws: ServerConnection, frame: dict[str, Any]) -> None:
        for action in actions:
            await action(ws, frame)

    return act


def event(message: dict[str, Any] | str) -> Action:
    text = message if isinstance(message, str) else json.dumps(message)

    async def act(ws: ServerConnection, frame: dict[str, Any]) -> None:
        await ws.send(text)

    return act


@dataclass
class FakeServer:
    url: str = ""
    script: list[Action] = field(default_factory=list)
    refusals: list[int] = field(default_factory=list)
    challenge: str | None = None  # WWW-Authenticate of a refusal, if any
    frames: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    handshakes: list[Request] = field(default_factory=list)
    sockets: list[ServerConnection] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def connections(self) -> int:
        return len(self.sockets)

    def request_ids(self) -> list[str]:
        return [frame["request_id"] for _, frame in self.frames]

    async def wait_frames(self, count: int) -> None:
        while len(self.frames) < count:
            self.received.clear()
            await asyncio.wait_for(self.received.wait(), 10)

    async def push(self, message: dict[str, Any] | str, *, connection: int = -1) -> None:
        """Send a frame that answers nothing (a room event) on a connection."""
        text = message if isinstance(message, str) else json.dumps(message)
        await self.sockets[connection].send(text)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes.append(request)
        if self.refusals:
            status = self.refusals.pop(0)
            response = connection.respond(status, "refused\n")
            if self.challenge is not None:
                response.headers["WWW-Authenticate"] = self.challenge
            return response
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.sockets.append(ws)
        index = len(self.sockets)
        try:
            async for text in ws:
                frame = json.loads(text)
                self.frames.append((index, frame))
                self.received.set()
                action = self.script.pop(0) if self.script else ok
                await action(ws, frame)
        except ConnectionClosed:
            pass


@asynccontextmanager
async def fake_server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    server: Server = await serve(
        fake._handler, "127.0.0.1", 0, process_request=fake._process_request
    )
    port = server.sockets[0].getsockname()[1]
    fake.url = f"ws://127.0.0.1:{port}/ws"
    try:
        yield fake
    finally:
        server.close()
        await server.wait_closed()
