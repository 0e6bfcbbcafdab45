"""rooms_client against a real ``rooms serve`` on PostgreSQL and Redis, across restarts.

The restart tests stop the server while a request is unanswered and start a
new one on the same database and port; the client's retry, with the same
request_id, must end with exactly one room.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from rooms_client import HandshakeRefused, RetryPolicy, RoomsClient, ServerError
from rooms_ws.try_verb import run_try
from tests.integration.server_process import (
    ServerProcess,
    Servers,
    fetch,
    server_env,
    wait_closed,
)
from tests.integration.ws_support import token_for

# Patient enough for a server restart on a loaded machine (about 40 s of
# backoff in all), quick to notice the new server once it listens.
PATIENT = RetryPolicy(attempts=25, base_s=0.05, cap_s=2.0, reply_timeout_s=30)


@pytest.fixture
def env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return server_env(database_url, redis_url, tmp_path / "data")


@pytest.fixture
async def user(database_url: str, redis: aioredis.Redis) -> AsyncIterator[uuid.UUID]:
    rows = await fetch(
        database_url,
        "INSERT INTO users (user_id, display_name) VALUES ($1, 'Ann') RETURNING user_id",
        uuid.uuid4(),
    )
    yield rows[0]["user_id"]
    # The database is the test's own; Redis may be shared: delete only our rooms' keys.
    for row in await fetch(database_url, "SELECT room_id FROM rooms"):
        await redis.delete(f"room:{row['room_id']}:meta", f"room:{row['room_id']}:seats")


async def rooms_of(dsn: str, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await fetch(
        dsn, "SELECT room_id, code, max_players FROM rooms WHERE owner_user_id = $1", user_id
    )
    return [dict(r) for r in rows]


async def start(servers: Servers, env: dict[str, str], port: int | None = None) -> ServerProcess:
    """A ``rooms serve``, on ``port`` if given; stopped by the ``servers`` fixture."""
    server = ServerProcess(env, servers.cwd, port=port)
    servers.started.append(server)
    return await asyncio.to_thread(server.wait_ready)


async def wait_for(condition: Any, what: str, within_s: float = 30.0) -> None:
    """Poll ``condition`` (a state, not a delay) until it holds."""
    try:
        async with asyncio.timeout(within_s):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"gave up waiting for {what}") from None


# --- plain use -------------------------------------------------------------------------


async def test_create_room_on_a_real_server(
    servers: Servers, env: dict[str, str], user: uuid.UUID, database_url: str
) -> None:
    server = await start(servers, env)
    async with RoomsClient.connect(server.url, token_for(user), policy=PATIENT) as client:
        room = await client.create_room(max_players=2, ruleset_config={"turn_s": 30})
        with pytest.raises(ServerError) as invalid:
            await client.create_room(max_players=9)
    assert await rooms_of(database_url, user) == [
        {"room_id": room.room_id, "code": room.code, "max_players": 2}
    ]
    assert (room.seat_index, room.is_host) == (0, True)
    assert invalid.value.code == "validation_failed"
    assert invalid.value.retryable is False
    assert invalid.value.problems() == {"max_players": "must be an integer from 2 to 4"}


async def test_browser_style_auth_and_a_refused_token(
    servers: Servers, env: dict[str, str], user: uuid.UUID, database_url: str
) -> None:
    server = await start(servers, env)
    async with RoomsClient.connect(server.url, token_for(user), auth="query") as client:
        await client.create_room()
    with pytest.raises(HandshakeRefused) as refused:
        async with RoomsClient.connect(server.url, token_for(user, secret="x" * 48)):
            pass
    assert refused.value.status == 401
    assert refused.value.error == "invalid_token"
    assert refused.value.description == "the token is invalid"
    with pytest.raises(HandshakeRefused) as expired:
        async with RoomsClient.connect(server.url, token_for(user, ttl_s=-120)):
            pass
    assert expired.value.description == "the token has expired"
    assert "the token has expired" in str(expired.value)
    with pytest.raises(HandshakeRefused) as nobody:
        async with RoomsClient.connect(server.url, token_for(uuid.uuid4()), auth="query"):
            pass
    assert nobody.value.description == "the token's user is unknown"
    assert len(await rooms_of(database_url, user)) == 1


async def test_rooms_try_goes_through_the_client(
    servers: Servers,
    env: dict[str, str],
    user: uuid.UUID,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = await start(servers, env)
    assert await asyncio.to_thread(run_try, server.url, token_for(user), max_players=2) == 0
    sent, received = capsys.readouterr().out.splitlines()
    assert sent.startswith('> {"type":"create_room","request_id":')
    assert '"max_players":2' in sent
    assert received.startswith('< {"type":"create_room_ok"')
    assert len(await rooms_of(database_url, user)) == 1

    assert await asyncio.to_thread(run_try, server.url, token_for(user), max_players=9) == 1
    assert "validation_failed" in capsys.readouterr().err
    assert await asyncio.to_thread(run_try, server.url, "not-a-token") == 1
    assert "HTTP 401" in capsys.readouterr().err
    assert len(await rooms_of(database_url, user)) == 1


# --- restarts ----------------------------------------------------------------------------


async def test_a_request_sent_to_a_crashing_server_is_retried_on_the_next_one(
    servers: Servers, env: dict[str, str], user: uuid.UUID, database_url: str
) -> None:
    first = await start(servers, env)
    async with RoomsClient.connect(first.url, token_for(user), policy=PATIENT) as client:
        # Frozen, the server takes the frame into its socket buffer and never
        # reads it; then it dies without a close frame: the client saw a drop.
        os.kill(first.process.pid, signal.SIGSTOP)
        try:
            request = asyncio.create_task(client.create_room())
            await wait_for(lambda: _true(client.in_flight == 1), "the request to be sent")
        finally:
            os.kill(first.process.pid, signal.SIGKILL)
            await asyncio.to_thread(first.process.wait)
        await start(servers, env, port=first.port)
        room = await asyncio.wait_for(request, 60)
        assert client.connections == 2
    rooms = await rooms_of(database_url, user)
    assert [r["room_id"] for r in rooms] == [room.room_id]
    keys = await fetch(database_url, "SELECT request_id FROM ws_idempotency")
    assert [k["request_id"] for k in keys] == [room.request_id]


async def test_a_reply_lost_in_a_restart_is_recovered_by_replay(
    servers: Servers, env: dict[str, str], user: uuid.UUID, database_url: str
) -> None:
    first = await start(servers, env)
    async with (
        DeafeningProxy(first.port) as proxy,
        RoomsClient.connect(proxy.url, token_for(user), policy=PATIENT) as client,
    ):
        proxy.deafen()  # replies on this connection never reach the client
        request = asyncio.create_task(client.create_room())

        async def committed() -> bool:
            return len(await rooms_of(database_url, user)) == 1

        await wait_for(committed, "the room to be committed")
        assert not request.done()
        # A graceful restart: the server answers (into the void) and closes with 1012.
        assert await asyncio.to_thread(first.terminate) == 0
        proxy.cut()
        await start(servers, env, port=first.port)
        room = await asyncio.wait_for(request, 60)
        assert client.connections == 2
    rooms = await rooms_of(database_url, user)
    assert [r["room_id"] for r in rooms] == [room.room_id]
    assert rooms[0]["code"] == room.code


async def test_room_events_survive_a_restart(
    servers: Servers,
    env: dict[str, str],
    user: uuid.UUID,
    database_url: str,
    redis: aioredis.Redis,
) -> None:
    first = await start(servers, env)
    async with RoomsClient.connect(first.url, token_for(user), policy=PATIENT) as client:
        room = await client.create_room()
        channel = f"room:{room.room_id}:events"
        events = client.room_events()
        await publish_until_heard(redis, channel, '{"type":"before"}')
        assert (await asyncio.wait_for(anext(events), 30)).type == "before"

        assert await wait_closed_by_sigterm(first) == 0  # the client gets 1012
        await start(servers, env, port=first.port)
        # The client follows the room again by itself (a replay of its create_room).
        await publish_until_heard(redis, channel, '{"type":"after"}')
        heard = await asyncio.wait_for(anext(events), 30)
        # Back after the restart: its own player_reconnected may come first.
        if heard.type == "player_reconnected":
            heard = await asyncio.wait_for(anext(events), 30)
        assert heard.type == "after"
        assert client.connections == 2
    assert len(await rooms_of(database_url, user)) == 1


# --- helpers ------------------------------------------------------------------------------


async def _true(value: bool) -> bool:
    return value


async def wait_closed_by_sigterm(server: ServerProcess) -> int:
    server.process.send_signal(signal.SIGTERM)
    return await wait_closed(server)


async def publish_until_heard(redis: aioredis.Redis, channel: str, message: str) -> None:
    """Publish once some server subscribes to ``channel`` (PUBLISH counts receivers)."""

    async def heard() -> bool:
        return bool(await redis.publish(channel, message))

    await wait_for(heard, f"a subscriber of {channel}")


class DeafeningProxy:
    """A loopback TCP proxy to a server port whose current connections can go deaf.

    ``deafen()``: bytes from the server to the client are dropped from then
    on, on the connections open now (a reply lost on the network). ``cut()``
    aborts them. New connections are forwarded normally.
    """

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._server: asyncio.Server | None = None
        self._connections: list[_Piped] = []
        self.url = ""

    async def __aenter__(self) -> DeafeningProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ws"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def deafen(self) -> None:
        for piped in self._connections:
            piped.deaf = True

    def cut(self) -> None:
        for piped in self._connections:
            piped.abort()
        self._connections.clear()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        except OSError:
            client_w.transport.abort()
            return
        piped = _Piped(client_w, server_w)
        self._connections.append(piped)
        await asyncio.gather(
            piped.pump(client_r, server_w, downstream=False),
            piped.pump(server_r, client_w, downstream=True),
        )


class _Piped:
    def __init__(self, client_w: asyncio.StreamWriter, server_w: asyncio.StreamWriter) -> None:
        self._writers = (client_w, server_w)
        self.deaf = False

    async def pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if downstream and self.deaf:
                    continue
                writer.write(data)
                await writer.drain()
        self.abort()

    def abort(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
