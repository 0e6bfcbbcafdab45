"""SIGTERM with many sockets open and creates in flight, then the clients on another instance.

Two ``rooms serve`` share one database. The first is stopped while dozens of
sockets each have several creates queued; every socket must get 1012, the
process must exit 0, every transaction must have committed whole or not at
all, and each client resending its unanswered request ids to the second
instance must end with exactly one room per request id (a replay when the
first instance had answered). A request stuck on a stalled database must not
hold the exit beyond the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from harness.postgres_proxy import PostgresProxy
from rooms_adapters.embedded.redis import EmbeddedRedis
from tests.integration.fullstack import (
    GUARD_S,
    add_user,
    inconsistencies,
    start_server,
    until,
    written_by,
)
from tests.integration.server_process import Servers, fetch, server_env, wait_closed
from tests.integration.ws_support import ask, client, create_room, token_for

pytestmark = pytest.mark.integration

USERS = 20
SOCKETS_PER_USER = 2
CREATES_PER_SOCKET = 5
WIND_DOWN_GUARD_S = 5.0


@dataclass
class Pipelined:
    """One socket's creates, sent back to back, and what came back before the close."""

    ws: ClientConnection
    requests: list[dict[str, Any]]
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    close_code: int | None = None

    async def read_until_closed(self) -> None:
        try:
            async with asyncio.timeout(GUARD_S):
                async for raw in self.ws:
                    reply = json.loads(raw)
                    self.answers[reply["request_id"]] = reply
        except ConnectionClosed:
            pass
        rcvd = self.ws.protocol.close_rcvd
        self.close_code = rcvd.code if rcvd is not None else None

    @property
    def unanswered(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["request_id"] not in self.answers]


@contextlib.asynccontextmanager
async def sockets(url: str, users: list[uuid.UUID]) -> AsyncIterator[list[ClientConnection]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(client(url, token_for(user)))
            for user in users
            for _ in range(SOCKETS_PER_USER)
        ]


async def test_sigterm_with_creates_in_flight_loses_and_duplicates_nothing(
    fault_redis: EmbeddedRedis, servers: Servers, database_url: str, tmp_path: Path
) -> None:
    grace_s = 10.0
    env = server_env(
        database_url,
        fault_redis.url,  # private: no keys left in a shared Redis
        tmp_path / "data",
        ROOMS_SHUTDOWN_GRACE_S=str(grace_s),
        ROOMS_MAX_CONNECTIONS_PER_USER=str(SOCKETS_PER_USER * 2),
    )
    first, second = await start_server(servers, env), await start_server(servers, env)
    users = [await add_user(database_url, f"P{i}") for i in range(USERS)]
    async with sockets(first.url, users) as open_sockets:
        piped = [
            Pipelined(ws, [create_room() for _ in range(CREATES_PER_SOCKET)]) for ws in open_sockets
        ]
        await asyncio.gather(*(p.ws.send(json.dumps(r)) for p in piped for r in p.requests))
        first.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.gather(*(p.read_until_closed() for p in piped))
        exit_code = await wait_closed(first, grace_s + GUARD_S)
        took = time.monotonic() - signalled
    answered = sum(len(p.answers) for p in piped)
    print(
        f"\nSIGTERM: {answered} of {len(piped) * CREATES_PER_SOCKET} creates answered "
        f"before 1012 on {len(piped)} sockets; exit {exit_code} after {took:.2f}s"
    )
    assert exit_code == 0
    assert {p.close_code for p in piped} == {1012}
    assert all(a["type"] == "create_room_ok" for p in piped for a in p.answers.values())
    assert await inconsistencies(database_url) == []
    # Every request the first instance answered is in the database; nothing else is.
    assert await room_request_ids(database_url) == {rid for p in piped for rid in p.answers}

    # The clients reconnect to the other instance and resend what was left
    # unanswered, and the last request id in any case.
    by_socket = [(p, [*p.unanswered, p.requests[-1]]) for p in piped]
    async with sockets(second.url, users) as retry_sockets:
        for ws, (p, resend) in zip(retry_sockets, by_socket, strict=True):
            for request in resend:
                reply = await ask(ws, request)
                assert reply["type"] == "create_room_ok", reply
                earlier = p.answers.get(request["request_id"])
                assert earlier is None or reply == earlier  # a replay, never a second room
                p.answers[request["request_id"]] = reply
    assert await room_request_ids(database_url) == {rid for p in piped for rid in p.answers}
    assert await inconsistencies(database_url) == []


async def test_a_request_stuck_on_the_database_does_not_hold_the_exit_past_the_grace(
    fault_redis: EmbeddedRedis, servers: Servers, database_url: str, tmp_path: Path
) -> None:
    grace_s = 3.0
    db_timeout_s = 60.0  # far beyond the grace: only the grace may end the wait
    proxy = PostgresProxy(database_url)
    await proxy.start()
    try:
        env = server_env(
            proxy.dsn,
            fault_redis.url,
            tmp_path / "data",
            ROOMS_SHUTDOWN_GRACE_S=str(grace_s),
            ROOMS_DB_TIMEOUT_S=str(db_timeout_s),
        )
        server = await start_server(servers, env)
        user = await add_user(database_url)
        async with (
            client(server.url, token_for(user)) as stuck,
            client(server.url, token_for(user)) as idle,
        ):
            assert (await ask(stuck, create_room()))["type"] == "create_room_ok"
            proxy.freeze_on(b"COMMIT")
            request = create_room()
            await stuck.send(json.dumps(request))
            await until(lambda: proxy_frozen(proxy), "the create to reach its COMMIT")
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            codes = await asyncio.gather(close_code_of(stuck), close_code_of(idle))
            exit_code = await wait_closed(server, db_timeout_s)
            took = time.monotonic() - signalled
        print(f"\nstuck request: exit {exit_code} after {took:.2f}s (grace {grace_s}s)")
        assert exit_code == 0
        # Generous slack for winding down on a busy machine, yet far from the
        # database's own bound (or from a second grace) that would end it otherwise.
        assert took < grace_s + WIND_DOWN_GUARD_S
        assert codes == [1012, 1012]
        await proxy.cut()  # the held COMMIT is lost with the connection

        async def rolled_back() -> bool:
            return (await written_by(database_url, user))["ws_idempotency"] == 1

        await until(rolled_back, "PostgreSQL to roll the orphaned transaction back")
        assert await inconsistencies(database_url) == []
    finally:
        await proxy.close()


async def proxy_frozen(proxy: PostgresProxy) -> bool:
    return not proxy.flowing


async def close_code_of(ws: ClientConnection) -> int | None:
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(GUARD_S):
            async for _ in ws:
                pass
    rcvd = ws.protocol.close_rcvd
    return rcvd.code if rcvd is not None else None


async def room_request_ids(dsn: str) -> set[str]:
    """The request ids whose room exists (through their completed idempotency rows)."""
    rows = await fetch(
        dsn,
        "SELECT k.request_id::text AS rid FROM ws_idempotency k"
        " JOIN rooms r ON r.room_id::text = k.response_payload -> 'result' ->> 'room_id'",
    )
    return {r["rid"] for r in rows}
