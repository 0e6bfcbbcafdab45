"""Phase 1, server side: C clients sending ``create_room`` back to back.

Each client is its own user on its own connection, waits for the answer to
its request before sending the next (a fresh ``request_id`` every time), and
keeps going until the window closes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from benchmarks import aio
from benchmarks.stats import WindowResult
from benchmarks.window import Window
from benchmarks.wsclient import Compression, close_all, open_all

_BEFORE_ID = '{"type":"create_room","request_id":"'
_AFTER_ID = (
    '","payload":{"visibility":"private","max_players":4,'
    '"ruleset_id":"classic","ruleset_config":{}}}'
)
REPLY_TIMEOUT_S = 10.0


def create_room_frame(request_id: str) -> str:
    """The request a game client sends, with the story's default payload."""
    return _BEFORE_ID + request_id + _AFTER_ID


@dataclass(frozen=True, slots=True)
class LoadPlan:
    url: str
    tokens: list[str]
    warmup_s: float
    duration_s: float
    compression: Compression


def run_load(channel: Connection, plan: LoadPlan) -> WindowResult:
    """Worker entry point: returns what the window saw."""
    return aio.run(_load(channel, plan))


async def _load(channel: Connection, plan: LoadPlan) -> WindowResult:
    connections = await open_all(plan.url, plan.tokens, plan.compression)
    window = Window.open(channel, plan.warmup_s, plan.duration_s)
    await asyncio.gather(*(_client(ws, window) for ws in connections))
    await close_all(connections)
    return window.result()


async def _client(ws: ClientConnection, window: Window) -> None:
    while not window.over():
        request_id = str(uuid.uuid4())
        sent = time.monotonic()
        try:
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                await ws.send(create_room_frame(request_id))
                reply = await answer_to(ws, request_id)
        except TimeoutError:
            window.failure("timeout", time.monotonic())
            return
        except ConnectionClosed as exc:
            window.failure(f"closed_{exc.rcvd.code if exc.rcvd else 'abnormal'}", time.monotonic())
            return
        done = time.monotonic()
        if reply.get("type") == "create_room_ok":
            window.success(sent, done)
        else:
            window.failure(_error_code(reply), done)


def _error_code(reply: dict[str, Any]) -> str:
    payload = reply.get("payload")
    code = payload.get("code") if isinstance(payload, dict) else None
    return str(code or reply.get("type"))


async def answer_to(ws: ClientConnection, request_id: str) -> dict[str, Any]:
    """The next frame answering ``request_id``; anything else in between is skipped."""
    while True:
        frame = orjson.loads(await ws.recv())
        if isinstance(frame, dict) and frame.get("request_id") == request_id:
            return frame
