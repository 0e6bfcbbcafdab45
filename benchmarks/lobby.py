"""Phase 4, client side: C pairs of players going through a whole lobby, over and over.

Each pair is two users on their own connections. One cycle: the host creates a
room, the guest joins it by its code, both get ready, the host starts the
game, the guest leaves, then the host (which closes the room). Each request
waits for the previous one's reply; every reply is timed per request type.

The other member's socket hears most of these changes as events
(``player_joined``, ``player_ready``, ``game_started``, ``player_left``); each
is timed from the moment its request was sent to its arrival on the other
socket. Both sockets live in this process, so one clock times both ends.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from benchmarks import aio
from benchmarks.loadgen import REPLY_TIMEOUT_S
from benchmarks.window import Window
from benchmarks.wsclient import Compression, close_all, open_all

REQUEST_TYPES = ("create_room", "join_room", "set_ready", "start_game", "leave_room")
STRAGGLER_WAIT_S = 2.0
_CREATE = {"visibility": "private", "max_players": 4, "ruleset_id": "classic", "ruleset_config": {}}

# (room_id, event type, version): one change of one room, as its events name it.
EventKey = tuple[str, str, int]


class RequestFailed(Exception):
    """A request got an error reply: the cycle cannot go on (counted by code)."""


@dataclass(frozen=True, slots=True)
class LobbyPlan:
    url: str
    tokens: list[str]  # two per pair: host, guest, host, guest ...
    warmup_s: float
    duration_s: float
    compression: Compression


@dataclass(slots=True)
class LobbyResult:
    """What one window saw: replies by request type, events by type, failures."""

    window_s: float
    replies_ms: dict[str, list[float]] = field(default_factory=dict)
    events_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    unheard_events: int = 0
    client_cpu_s: float = 0.0


class Member:
    """One player's socket: replies go to their request, events are timestamped."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.heard: dict[EventKey, float] = {}
        self._waiting: dict[str, asyncio.Future[tuple[dict[str, Any], float]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                arrived = time.monotonic()
                frame = orjson.loads(raw)
                request_id = frame.get("request_id")
                if request_id is None:
                    payload = frame.get("payload") or {}
                    version = int(payload.get("version") or 0)
                    key = (str(payload.get("room_id")), str(frame.get("type")), version)
                    self.heard.setdefault(key, arrived)
                elif (waiting := self._waiting.pop(request_id, None)) is not None:
                    waiting.set_result((frame, arrived))
        except ConnectionClosed as exc:
            for waiting in self._waiting.values():
                waiting.set_exception(exc)

    async def ask(
        self, type_: str, payload: dict[str, Any], ok: str | None = None
    ) -> tuple[dict[str, Any], float, float]:
        """The success payload, when it was sent and when its reply arrived.

        ``ok``: the success reply's type when it is not ``<type>_ok`` (``room`` for get_room).
        """
        request_id = str(uuid.uuid4())
        answer = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answer
        frame = {"type": type_, "request_id": request_id, "payload": payload}
        sent = time.monotonic()
        await self.ws.send(orjson.dumps(frame).decode())
        reply, done = await asyncio.wait_for(answer, REPLY_TIMEOUT_S)
        if reply.get("type") != (ok or f"{type_}_ok"):
            code = (reply.get("payload") or {}).get("code") or reply.get("type")
            raise RequestFailed(f"{type_}:{code}")
        body: dict[str, Any] = reply["payload"]
        return body, sent, done


@dataclass(slots=True)
class Tally:
    """Requests and expected events of the window, matched with arrivals at the end."""

    window: Window
    replies_ms: dict[str, list[float]] = field(default_factory=dict)
    # The other member, the change it should hear about, and when its request left.
    expected: list[tuple[Member, EventKey, float]] = field(default_factory=list)

    def inside(self, at: float) -> bool:
        return self.window.start <= at <= self.window.end

    def reply(self, type_: str, sent: float, done: float) -> None:
        if self.inside(done):
            self.replies_ms.setdefault(type_, []).append((done - sent) * 1000.0)

    def expect(self, other: Member, key: EventKey, sent: float) -> None:
        if self.inside(sent):
            self.expected.append((other, key, sent))


def run_lobby(channel: Connection, plan: LobbyPlan) -> LobbyResult:
    """Worker entry point: returns what the window saw."""
    return aio.run(_lobby(channel, plan))


async def _lobby(channel: Connection, plan: LobbyPlan) -> LobbyResult:
    connections = await open_all(plan.url, plan.tokens, plan.compression)
    members = [Member(ws) for ws in connections]
    tally = Tally(Window.open(channel, plan.warmup_s, plan.duration_s))
    pairs = zip(members[::2], members[1::2], strict=True)
    await asyncio.gather(*(_pair(host, guest, tally) for host, guest in pairs))
    await asyncio.sleep(STRAGGLER_WAIT_S)  # the last events of the window may be on their way
    await close_all(connections)
    await asyncio.gather(*(m.reader for m in members), return_exceptions=True)
    return _result(tally)


async def _pair(host: Member, guest: Member, tally: Tally) -> None:
    while not tally.window.over():
        try:
            await _cycle(host, guest, tally)
        except RequestFailed as exc:
            tally.window.failure(str(exc), time.monotonic())
            return
        except TimeoutError:
            tally.window.failure("timeout", time.monotonic())
            return
        except ConnectionClosed as exc:
            tally.window.failure(
                f"closed_{exc.rcvd.code if exc.rcvd else 'abnormal'}", time.monotonic()
            )
            return


async def _step(
    tally: Tally,
    actor: Member,
    type_: str,
    payload: dict[str, Any],
    other: Member,
    event: str | None,
) -> dict[str, Any]:
    body, sent, done = await actor.ask(type_, payload)
    tally.reply(type_, sent, done)
    if event is not None:
        tally.expect(other, (str(body["room_id"]), event, int(body["version"])), sent)
    return body


async def _cycle(host: Member, guest: Member, tally: Tally) -> None:
    created = await _step(tally, host, "create_room", _CREATE, guest, None)
    room = {"room_id": str(created["room_id"])}
    await _step(tally, guest, "join_room", {"code": created["code"]}, host, "player_joined")
    await _step(tally, host, "set_ready", room | {"ready": True}, guest, "player_ready")
    await _step(tally, guest, "set_ready", room | {"ready": True}, host, "player_ready")
    await _step(tally, host, "start_game", room, guest, "game_started")
    await _step(tally, guest, "leave_room", room, host, "player_left")
    # The host's leave closes the room; the guest, gone already, hears nothing of it.
    await _step(tally, host, "leave_room", room, guest, None)


def _result(tally: Tally) -> LobbyResult:
    events: dict[str, list[float]] = {}
    unheard = 0
    for other, key, sent in tally.expected:
        arrived = other.heard.get(key)
        if arrived is None:
            unheard += 1
        else:
            events.setdefault(key[1], []).append((arrived - sent) * 1000.0)
    window = tally.window.result()
    return LobbyResult(
        window_s=window.window_s,
        replies_ms=tally.replies_ms,
        events_ms=events,
        errors=window.errors,
        unheard_events=unheard,
        client_cpu_s=window.client_cpu_s,
    )
