"""Frames and a small player for the lobby's WebSocket tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection

from tests.integration.ws_support import REPLY_TIMEOUT_S, client, create_room, token_for


def request(type_: str, request_id: str | None = None, **payload: Any) -> dict[str, Any]:
    return {"type": type_, "request_id": request_id or str(uuid.uuid4()), "payload": payload}


class Player:
    """One connection: sends requests, answers with their replies, keeps the events."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def ask(self, type_: str, request_id: str | None = None, **payload: Any) -> Any:
        frame = request(type_, request_id, **payload)
        await self.ws.send(json.dumps(frame))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), REPLY_TIMEOUT_S))
            if message["request_id"] is None:
                self.events.append(message)
            elif message["request_id"] == frame["request_id"]:
                return message

    async def create_room(self) -> tuple[str, str]:
        """Create a room with the default request; its id and its join code."""
        created = await self.ask("create_room", **create_room()["payload"])
        return created["payload"]["room_id"], created["payload"]["code"]

    async def expect(self, *types: str, within_s: float = 10.0) -> list[dict[str, Any]]:
        """Read events until those of ``types`` have arrived in this order; return them."""
        async with asyncio.timeout(within_s):
            while [e["type"] for e in self.events[-len(types) :]] != list(types):
                message = json.loads(await self.ws.recv())
                assert message["request_id"] is None, message
                self.events.append(message)
        return self.events[-len(types) :]

    async def quiet(self, for_s: float = 0.5) -> list[dict[str, Any]]:
        """Every frame that arrives within ``for_s`` (none expected, usually)."""
        heard = []
        try:
            async with asyncio.timeout(for_s):
                while True:
                    heard.append(json.loads(await self.ws.recv()))
        except TimeoutError:
            pass
        return heard


@contextlib.asynccontextmanager
async def players(url: str, *users: uuid.UUID) -> AsyncIterator[list[Player]]:
    """One connected Player per user, in order (a user twice: two connections)."""
    async with contextlib.AsyncExitStack() as stack:
        yield [Player(await stack.enter_async_context(client(url, token_for(u)))) for u in users]


@contextlib.asynccontextmanager
async def host_and_guest(
    url: str, host_id: uuid.UUID, guest_id: uuid.UUID
) -> AsyncIterator[tuple[Player, Player, str]]:
    """Two players on ``url``, the guest seated in the host's new room; and that room's id."""
    async with players(url, host_id, guest_id) as (host, guest):
        room_id, code = await host.create_room()
        await guest.ask("join_room", code=code)
        yield host, guest, room_id
