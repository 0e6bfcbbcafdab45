"""Abuse the other suites leave out: connect storms against the caps, and frames after expiry.

The storm runs against a real ``rooms serve``: handshakes all at once, so the
caps are tested where a check and its count could race. Expiry is tested
in-process, on a clock the test moves, because only there can a frame be
made to arrive after ``exp`` and before the expiry timer fires.
"""

from __future__ import annotations

import asyncio
import json
import time
import types
import uuid
from collections import Counter

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

import rooms_ws.session
from tests.integration.fullstack import add_user, until, written_by
from tests.integration.memory_server import StartMemoryServer
from tests.integration.redis_fixtures import PrivateEnv
from tests.integration.server_probe import scrape
from tests.integration.server_process import Servers
from tests.integration.ws_support import ask, client, close_code, create_room, free_port, token_for

pytestmark = pytest.mark.integration

MAX_CONNECTIONS = 20
MAX_PER_USER = 5


async def handshake(url: str, token: str) -> ClientConnection | int:
    """An open socket, or the HTTP status the handshake was refused with."""
    try:
        return await connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=30
        )
    except InvalidStatus as exc:
        return exc.response.status_code


async def storm(url: str, tokens: list[str]) -> tuple[list[ClientConnection], Counter[int]]:
    """Every handshake at once; the accepted sockets stay open until the caller closes them."""
    results = await asyncio.gather(*(handshake(url, t) for t in tokens))
    accepted = [r for r in results if not isinstance(r, int)]
    return accepted, Counter(r for r in results if isinstance(r, int))


async def close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets))


async def test_a_connect_storm_gets_exactly_the_caps_and_the_server_carries_on(
    private_env: PrivateEnv, servers: Servers, database_url: str
) -> None:
    metrics_port = free_port()
    env = private_env(
        ROOMS_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        ROOMS_MAX_CONNECTIONS_PER_USER=str(MAX_PER_USER),
        ROOMS_METRICS_PORT=str(metrics_port),
    )
    server = servers.start(env)
    users = [await add_user(database_url, f"P{i}") for i in range(12)]

    # One user, 30 handshakes at once: exactly the per-user cap gets in.
    one = token_for(users[0])
    accepted, refused = await storm(server.url, [one] * 30)
    assert (len(accepted), refused) == (MAX_PER_USER, Counter({429: 30 - MAX_PER_USER}))
    await close_all(accepted)

    # Twelve users, four each (under their cap): exactly the process cap gets in.
    tokens = [token_for(u) for u in users for _ in range(4)]
    accepted, refused = await storm(server.url, tokens)
    assert (len(accepted), refused) == (MAX_CONNECTIONS, Counter({503: 48 - MAX_CONNECTIONS}))
    # The accepted sockets are served while the cap holds.
    assert (await ask(accepted[-1], create_room()))["type"] == "create_room_ok"
    await close_all(accepted)

    # Every slot came back: the server is as new.
    async def back_to_zero() -> bool:
        return scrape(metrics_port)["rooms_open_connections"] == 0

    await until(back_to_zero, "every slot to be released")
    accepted, refused = await storm(server.url, [token_for(u) for u in users[:4]] * 5)
    assert (len(accepted), refused) == (MAX_CONNECTIONS, Counter())
    await close_all(accepted)
    samples = scrape(metrics_port)
    assert samples['rooms_handshakes_refused_total{status="429"}'] == 30 - MAX_PER_USER
    assert samples['rooms_handshakes_refused_total{status="503"}'] == 48 - MAX_CONNECTIONS
    # Refused handshakes wrote nothing; the one create wrote its room.
    assert sum([(await written_by(database_url, u))["rooms"] for u in users]) == 1
    assert server.process.poll() is None


class ShiftedTime:
    """``time`` for rooms_ws.session, running ``shift_s`` ahead of the real one."""

    def __init__(self) -> None:
        self.shift_s = 0.0
        self.perf_counter = time.perf_counter

    def time(self) -> float:
        return time.time() + self.shift_s


async def test_a_frame_arriving_after_expiry_is_not_processed(
    start_memory_server: StartMemoryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await start_memory_server(jwt_leeway_seconds=0)
    user = server.add_user()
    clock = ShiftedTime()
    fake = types.SimpleNamespace(time=clock.time, perf_counter=clock.perf_counter)
    monkeypatch.setattr(rooms_ws.session, "time", fake)
    async with client(server.url, token_for(user, ttl_s=600)) as ws:
        assert (await ask(ws, create_room()))["type"] == "create_room_ok"
        # The token is now past its exp; its timer, set for 600 s, has not fired.
        clock.shift_s = 601
        request = create_room()
        await ws.send(json.dumps(request))
        assert await close_code(ws) == 4001
    assert len(server.db.rooms) == 1
    assert (user, uuid.UUID(request["request_id"])) not in server.db.idempotency
