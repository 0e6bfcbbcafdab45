"""A fake WebSocket for sessions: what the client says, what the server sent, no server."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class FakeSocket:
    """The ASGI side of a WebSocket as a Session uses it: ``receive()`` and ``send()``."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.frames: list[str] = []
        self.close_codes: list[int] = []
        self.reading = asyncio.Event()  # the client takes frames
        self.reading.set()

    # What the client does.
    def says(self, frame: dict[str, Any]) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(frame)})

    def leaves(self, code: int = 1000) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": code})

    def replies(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.frames if json.loads(f).get("request_id")]

    # What the session calls.
    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        await self.reading.wait()
        if message["type"] == "websocket.send":
            self.frames.append(message["text"])
        else:
            self.close_codes.append(message["code"])
