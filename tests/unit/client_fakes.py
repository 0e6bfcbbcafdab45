"""A tiny scriptable WebSocket server on loopback, for the client's retry logic.

Each request frame it receives takes the next action of its script; without
one, :class:`FakeLobby` answers it as the lobby of docs/protocol.md would
(rooms, seats, versions, events to the sockets that follow a room). Each
handshake may be refused with the next status of ``refusals``. Room ids
derive from the request id, so a replayed request gets the same room, as
from the real server. The user is the token: its display name, and a UUID
derived from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
            json.dumps(
                {"type": "error", "request_id": frame["request_id"], "payload": body},
                separators=(",", ":"),
            )
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


def user_of(token: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, token))


def token_of(ws: ServerConnection) -> str:
    request = ws.request
    assert request is not None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ")
    return parse_qs(urlsplit(request.path).query).get("access_token", [""])[0]


@dataclass
class FakeRoom:
    room_id: str
    code: str
    max_players: int
    seats: list[str | None]  # user ids by seat index
    names: dict[str, str] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)
    host: str | None = None
    status: str = "open"
    version: int = 0

    def seat_of(self, user: str) -> int | None:
        return self.seats.index(user) if user in self.seats else None

    def snapshot(self) -> dict[str, Any]:
        host_seat = self.seat_of(self.host) if self.host else None
        seats = [
            {
                "seat_index": i,
                "status": "occupied" if u else "empty",
                "user_id": u,
                "display_name": self.names.get(u) if u else None,
                "is_host": u is not None and u == self.host,
                "ready": u in self.ready,
                "connected": u is not None,
            }
            for i, u in enumerate(self.seats)
        ]
        return {
            "room_id": self.room_id,
            "code": self.code,
            "status": self.status,
            "visibility": "private",
            "max_players": self.max_players,
            "ruleset_id": "classic",
            "ruleset_config": {},
            "version": self.version,
            "host_seat": host_seat,
            "seats": seats,
        }


class Refused(Exception):
    def __init__(self, code: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(code)
        self.code, self.details = code, details or []


@dataclass
class FakeLobby:
    """The lobby's rules, just enough to exercise a client: no idempotency table."""

    rooms: dict[str, FakeRoom] = field(default_factory=dict)
    followers: dict[str, list[ServerConnection]] = field(default_factory=dict)
    next_code: str = "AB12CD"

    async def answer(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        token = token_of(ws)
        user, kind, payload = user_of(token), frame["type"], frame["payload"]
        try:
            reply_type, body, events, room = self._apply(user, token, kind, payload, frame)
        except Refused as refused:
            await error(refused.code, False, refused.details)(ws, frame)
            return
        if room is not None and kind != "leave_room" and ws not in self.followers[room]:
            self.followers[room].append(ws)
        reply = {"type": reply_type, "request_id": frame["request_id"], "payload": body}
        await ws.send(json.dumps(reply, separators=(",", ":")))
        if room is not None:
            await self.publish(room, events)
            if kind == "leave_room" and ws in self.followers[room]:
                self.followers[room].remove(ws)

    async def publish(self, room_id: str, events: list[dict[str, Any]]) -> None:
        for event in events:
            text = json.dumps(
                {"type": event.pop("type"), "request_id": None, "payload": event},
                separators=(",", ":"),
            )
            for follower in list(self.followers.get(room_id, [])):
                with contextlib.suppress(ConnectionClosed):
                    await follower.send(text)

    def _apply(
        self, user: str, name: str, kind: str, payload: dict[str, Any], frame: dict[str, Any]
    ) -> tuple[str, dict[str, Any], list[dict[str, Any]], str | None]:
        if kind == "create_room":
            room_id = room_of(frame["request_id"])
            if room_id not in self.rooms:
                seats: list[str | None] = [None] * int(payload["max_players"])
                seats[0] = user
                room = FakeRoom(room_id, self.next_code, len(seats), seats, host=user)
                room.names[user] = name
                self.rooms[room_id] = room
                self.followers[room_id] = []
            body: dict[str, Any] = {"room_id": room_id, "code": self.rooms[room_id].code}
            return "create_room_ok", {**body, "seat_index": 0, "is_host": True}, [], room_id
        if kind == "join_room":
            code = str(payload["code"]).upper().replace("-", "").replace(" ", "")
            found = [r for r in self.rooms.values() if r.code == code and r.status != "closed"]
            if not found:
                raise Refused("room_not_found")
            room = found[-1]
            events: list[dict[str, Any]] = []
            seat = room.seat_of(user)
            if seat is None:
                if room.status == "in_game":
                    raise Refused("room_in_game")
                if None not in room.seats:
                    raise Refused("room_full")
                seat = room.seats.index(None)
                room.seats[seat], room.names[user] = user, name
                events = self._change(room, "player_joined", seat, display_name=name)
            body = {"room_id": room.room_id, "seat_index": seat}
            body["is_host"] = room.host == user
            return "join_room_ok", {**body, "room": room.snapshot()}, events, room.room_id
        found_by_id = self.rooms.get(str(payload["room_id"]))
        if found_by_id is None or found_by_id.status == "closed":
            raise Refused("room_not_found")
        room = found_by_id
        seat = room.seat_of(user)
        if seat is None:
            raise Refused("not_in_room")
        if kind == "get_room":
            return "room", {"room": room.snapshot()}, [], room.room_id
        if kind == "leave_room":
            return (
                "leave_room_ok",
                {"room_id": room.room_id},
                self._empty(room, seat, "left"),
                room.room_id,
            )
        if kind in ("kick_player", "start_game") and room.host != user:
            raise Refused("not_host")
        if room.status != "open":
            raise Refused("room_in_game")
        if kind == "set_ready":
            ready = bool(payload["ready"])
            events = []
            if (user in room.ready) != ready:
                (room.ready.add if ready else room.ready.discard)(user)
                events = self._change(room, "player_ready", seat, ready=ready)
            body = {"room_id": room.room_id, "seat_index": seat}
            body["ready"] = ready
            return "set_ready_ok", body, events, room.room_id
        if kind == "kick_player":
            target = int(payload["seat_index"])
            if room.seats[target] is None:
                raise Refused("not_in_room")
            events = self._empty(room, target, "kicked")
            return (
                "kick_player_ok",
                {"room_id": room.room_id, "seat_index": target},
                events,
                room.room_id,
            )
        if kind == "start_game":
            problems = [
                {"seat_index": i, "problem": "not ready"}
                for i, u in enumerate(room.seats)
                if u is not None and u not in room.ready
            ]
            if problems:
                raise Refused("not_ready", problems)
            room.status = "in_game"
            events = self._change(room, "game_started", None)
            return (
                "start_game_ok",
                {"room_id": room.room_id, "version": room.version},
                events,
                room.room_id,
            )
        raise Refused("unknown_type")

    def _change(
        self, room: FakeRoom, kind: str, seat: int | None, **extra: Any
    ) -> list[dict[str, Any]]:
        room.version += 1
        return [self._event(room, kind, seat, **extra)]

    @staticmethod
    def _event(room: FakeRoom, kind: str, seat: int | None, **extra: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind, "room_id": room.room_id, "version": room.version}
        if seat is not None:
            event |= {"seat_index": seat, "user_id": room.seats[seat]}
        return event | extra

    def _empty(self, room: FakeRoom, seat: int, reason: str) -> list[dict[str, Any]]:
        events = self._change(room, "player_left", seat, reason=reason)
        user = room.seats[seat]
        room.seats[seat] = None
        room.ready.discard(user or "")
        if room.host == user:
            room.host = next((u for u in room.seats if u is not None), None)
            if room.host is not None:
                events.append(self._event(room, "host_changed", room.seats.index(room.host)))
        if all(u is None for u in room.seats):
            room.status = "closed"
            events.append(self._event(room, "room_closed", None, reason="empty"))
        return events


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
    lobby: FakeLobby = field(default_factory=FakeLobby)

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
                action = self.script.pop(0) if self.script else self.lobby.answer
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
