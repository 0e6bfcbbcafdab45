"""One connection's session against a fake socket (no server): replies, events, closing.

The create path is the in-memory one (``tests/unit/harness.py``); these tests
look only at what the socket sees: frames in order, close codes, and which
rooms the connection follows.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from starlette.websockets import WebSocket

from rooms_adapters.memory import MemoryRoomEvents
from rooms_domain import CreateRoom, RoomId
from rooms_ws.auth import Identity
from rooms_ws.errors import CloseCode
from rooms_ws.session import Session
from rooms_ws.settings import Settings, SettingsError, load_settings
from tests.contracts.support import eventually
from tests.unit.fake_socket import FakeSocket
from tests.unit.harness import make_harness


def create_room(request_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "create_room",
        "request_id": request_id or str(uuid.uuid4()),
        "payload": {"ruleset_id": "classic"},
    }


@dataclass
class Connection:
    socket: FakeSocket
    session: Session
    task: asyncio.Task[int | None]
    events: MemoryRoomEvents

    async def ask(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a request; its reply."""
        seen = len(self.socket.replies())
        self.socket.says(frame)
        await eventually(lambda: len(self.socket.replies()) > seen)
        return self.socket.replies()[seen]

    async def create(self, request_id: str | None = None) -> RoomId:
        reply = await self.ask(create_room(request_id))
        assert reply["type"] == "create_room_ok", reply
        return RoomId(uuid.UUID(reply["payload"]["room_id"]))

    def follows(self, room: RoomId) -> bool:
        return bool(self.events.listeners.get(room))

    async def ended(self) -> int | None:
        async with asyncio.timeout(10):  # a guard, not a timing
            return await self.task


@pytest.fixture
async def connect() -> AsyncIterator[Any]:
    made: list[Connection] = []

    async def start(
        *,
        expires_in_s: float = 3600.0,
        wrap: Callable[[CreateRoom], Any] = lambda create_room: create_room,
        **limits: Any,
    ) -> Connection:
        harness = make_harness()
        user = harness.add_user()
        events = MemoryRoomEvents()
        services = harness.session_services(events, wrap(harness.create_room), **limits)
        socket = FakeSocket()
        identity = Identity(user_id=user, expires_at=time.time() + expires_in_s)
        session = Session(cast(WebSocket, socket), identity, services)
        task = asyncio.create_task(session.run())
        connection = Connection(socket, session, task, events)
        made.append(connection)
        return connection

    yield start
    for connection in made:
        connection.task.cancel()
        await asyncio.gather(connection.task, return_exceptions=True)


async def test_a_room_event_follows_the_create_reply_in_order(connect: Any) -> None:
    conn: Connection = await connect()
    room = await conn.create()
    for i in range(3):
        await conn.events.publish(room, f'{{"type":"e{i}"}}')
    await eventually(lambda: len(conn.socket.frames) == 4)
    assert json.loads(conn.socket.frames[0])["type"] == "create_room_ok"
    assert conn.socket.frames[1:] == ['{"type":"e0"}', '{"type":"e1"}', '{"type":"e2"}']
    conn.socket.leaves(1000)
    assert await conn.ended() == 1000
    assert not conn.follows(room)  # unsubscribed on close


async def test_an_event_queue_overflow_closes_the_socket_with_4009(connect: Any) -> None:
    conn: Connection = await connect(outbox_size=4, send_timeout_s=0.1)
    room = await conn.create()
    conn.socket.reading.clear()  # the client stops reading
    for i in range(4 + 2):  # one being written, four queued, one too many
        await conn.events.publish(room, f'{{"type":"e{i}"}}')
    conn.socket.reading.set()  # a close frame could get through now
    assert await conn.ended() == 4009
    assert conn.socket.close_codes == [4009]
    assert not conn.follows(room)


async def test_an_expired_token_closes_an_idle_connection_with_4001(connect: Any) -> None:
    conn: Connection = await connect(expires_in_s=0.2)
    assert await conn.ended() == 4001
    assert conn.socket.close_codes == [4001]


async def test_a_request_after_expiry_is_not_served_and_closes_with_4001(connect: Any) -> None:
    conn: Connection = await connect(expires_in_s=-1.0)
    conn.socket.says(create_room())
    assert await conn.ended() == 4001
    assert conn.socket.frames == []


class SlowCreateRoom:
    """A create that waits for a signal, so a close can arrive while it runs."""

    def __init__(self, inner: CreateRoom) -> None:
        self.inner = inner
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()

    async def run(self, command: Any) -> Any:
        self.started.set()
        await self.go_on.wait()
        return await self.inner.run(command)


async def test_a_drain_lets_the_request_in_flight_answer_then_closes_with_1012(
    connect: Any,
) -> None:
    slows: list[SlowCreateRoom] = []

    def slow_down(create_room: CreateRoom) -> SlowCreateRoom:
        slows.append(SlowCreateRoom(create_room))
        return slows[0]

    conn: Connection = await connect(wrap=slow_down)
    slow = slows[0]
    conn.socket.says(create_room("11111111-1111-4111-8111-111111111111"))
    await slow.started.wait()
    conn.session.request_close(CloseCode.SERVICE_RESTART, flush=True)
    slow.go_on.set()
    assert await conn.ended() == 1012
    assert [r["type"] for r in conn.socket.replies()] == ["create_room_ok"]
    assert conn.socket.close_codes == [1012]


async def test_a_drain_closes_an_idle_connection_at_once_with_1012(connect: Any) -> None:
    conn: Connection = await connect()
    await asyncio.sleep(0)  # parked in receive()
    conn.session.request_close(CloseCode.SERVICE_RESTART, flush=True)
    assert await conn.ended() == 1012


async def test_following_one_room_too_many_drops_the_least_recently_followed(
    connect: Any,
) -> None:
    conn: Connection = await connect(max_followed_rooms=2)
    first_request = str(uuid.uuid4())
    first = await conn.create(first_request)
    second = await conn.create()
    assert conn.follows(first) and conn.follows(second)
    # A replay of the first create follows that room again: now the most recent.
    assert await conn.create(first_request) == first
    third = await conn.create()
    assert conn.follows(first) and conn.follows(third)
    assert not conn.follows(second)  # dropped: unsubscribed, hears nothing more
    await conn.events.publish(second, '{"type":"lost"}')
    fourth = await conn.create()
    assert [conn.follows(r) for r in (first, third, fourth)] == [False, True, True]


def test_the_cap_is_rooms_max_followed_rooms_default_64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOMS_MAX_FOLLOWED_ROOMS", raising=False)
    assert Settings(_env_file=None).max_followed_rooms == 64  # type: ignore[call-arg]
    monkeypatch.setenv("ROOMS_MAX_FOLLOWED_ROOMS", "3")
    assert Settings(_env_file=None).max_followed_rooms == 3  # type: ignore[call-arg]
    monkeypatch.setenv("ROOMS_MAX_FOLLOWED_ROOMS", "0")
    with pytest.raises(SettingsError, match="ROOMS_MAX_FOLLOWED_ROOMS"):
        load_settings(_env_file=None)
