"""PostgreSQL faults through the whole stack: a real ``rooms serve``, real clients.

The server's PostgreSQL is one this module owns (an embedded server in a
temporary directory, never the machine's), so the tests may stop, restart and
terminate it; a :class:`PostgresProxy` between them stalls or cuts the path.
Whatever PostgreSQL does: the client gets ``unavailable`` (retryable) within
the configured bound, nothing half-written is ever visible, the pool recovers
without a restart, and retrying the same ``request_id`` ends with exactly one
room. Latencies are printed; only generous guards are asserted.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from websockets.asyncio.client import ClientConnection

from harness.database import own_database
from harness.postgres_proxy import PostgresProxy
from harness.services import scratch_dir
from rooms_adapters.embedded import in_thread
from rooms_adapters.embedded.postgres import EmbeddedPostgres
from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_client import RetryPolicy, RoomsClient
from tests.integration.fullstack import (
    GUARD_S,
    add_user,
    inconsistencies,
    start_server,
    until,
    written_by,
)
from tests.integration.server_probe import log_records
from tests.integration.server_process import ServerProcess, Servers, fetch, server_env
from tests.integration.ws_support import ask, client, create_room, refusal_status, token_for

pytestmark = pytest.mark.integration

DB_TIMEOUT_S = 1.0  # ROOMS_DB_TIMEOUT_S: acquire, statement and command bound
UNAVAILABLE_GUARD_S = DB_TIMEOUT_S + 14  # the bound, and then some for a busy machine


@dataclass
class OwnedPostgres:
    server: EmbeddedPostgres
    dsn: str  # the test database, schema applied


@pytest.fixture(scope="module")
async def owned_postgres() -> AsyncIterator[OwnedPostgres]:
    async with (
        in_thread(scratch_dir("rooms-fault-pg-")) as data_dir,
        in_thread(EmbeddedPostgres(data_dir, durable=False)) as server,
        own_database(await asyncio.to_thread(server.start), "rooms_faults") as dsn,
    ):
        yield OwnedPostgres(server, dsn)


@pytest.fixture
async def proxy(owned_postgres: OwnedPostgres) -> AsyncIterator[PostgresProxy]:
    running = PostgresProxy(owned_postgres.dsn)
    await running.start()
    try:
        yield running
    finally:
        await running.close()


def env_for(database_url: str, redis: EmbeddedRedis, tmp_path: Path) -> dict[str, str]:
    return server_env(
        database_url,
        redis.url,  # private: nothing is left in a shared Redis
        tmp_path / "data",
        ROOMS_DB_TIMEOUT_S=str(DB_TIMEOUT_S),
    )


async def timed_ask(ws: ClientConnection, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    reply = await ask(ws, request)
    return reply, time.perf_counter() - started


def assert_unavailable(reply: dict[str, Any], request: dict[str, Any], took: float) -> None:
    assert reply["type"] == "error" and reply["request_id"] == request["request_id"], reply
    assert (reply["payload"]["code"], reply["payload"]["retryable"]) == ("unavailable", True)
    assert took < UNAVAILABLE_GUARD_S


async def retry_until_created(ws: ClientConnection, request: dict[str, Any]) -> dict[str, Any]:
    """What a client does with a retryable error: the same request, again."""
    async with asyncio.timeout(GUARD_S):
        while True:
            reply = await ask(ws, request)
            if reply["type"] == "create_room_ok":
                return reply
            assert reply["payload"]["retryable"], reply
            await asyncio.sleep(0.1)


async def assert_one_room_each(dsn: str, user: uuid.UUID, rooms: int) -> None:
    assert await written_by(dsn, user) == {
        "rooms": rooms,
        "room_seats": 4 * rooms,
        "ws_idempotency": rooms,
    }
    assert await inconsistencies(dsn) == []


@pytest.mark.parametrize("end", ["late_commit", "lost_commit"])
async def test_a_stalled_commit_is_unavailable_then_settled_by_the_retry(
    servers: Servers,
    owned_postgres: OwnedPostgres,
    proxy: PostgresProxy,
    fault_redis: EmbeddedRedis,
    tmp_path: Path,
    end: str,
) -> None:
    dsn = owned_postgres.dsn
    server = await start_server(servers, env_for(proxy.dsn, fault_redis, tmp_path))
    user = await add_user(dsn)
    async with client(server.url, token_for(user)) as ws:
        assert (await ask(ws, create_room()))["type"] == "create_room_ok"
        request = create_room()
        proxy.freeze_on(b"COMMIT")  # all the work done, the commit held back
        reply, took = await timed_ask(ws, request)
        print(f"\nstalled commit: unavailable after {took:.3f}s (bound {DB_TIMEOUT_S}s)")
        assert_unavailable(reply, request, took)
        # Nothing half-written is visible: the transaction never committed.
        assert (await written_by(dsn, user))["rooms"] == 1
        if end == "late_commit":
            proxy.thaw()  # the path heals and the held COMMIT lands after all
        else:
            await proxy.cut()  # the path breaks: the commit is lost
            await proxy.reopen()
        retried = await retry_until_created(ws, request)
        assert retried["request_id"] == request["request_id"]
        # The pool recovered by itself: the next create is an ordinary one.
        assert (await ask(ws, create_room()))["type"] == "create_room_ok"
    await assert_one_room_each(dsn, user, 3)


async def test_sessions_terminated_by_an_operator_mid_transaction_or_idle(
    servers: Servers,
    owned_postgres: OwnedPostgres,
    proxy: PostgresProxy,
    fault_redis: EmbeddedRedis,
    tmp_path: Path,
) -> None:
    dsn = owned_postgres.dsn
    env = env_for(proxy.dsn, fault_redis, tmp_path) | {"ROOMS_DB_POOL_MIN_SIZE": "3"}
    server = await start_server(servers, env)
    user = await add_user(dsn)
    async with client(server.url, token_for(user)) as ws:
        assert (await ask(ws, create_room()))["type"] == "create_room_ok"

        # Mid-transaction: the room is inserted, the commit is on its way.
        proxy.freeze_on(b"COMMIT")
        request = create_room()
        await ws.send(json.dumps(request))
        await until(lambda: proxy_frozen(proxy), "the create to reach its COMMIT")
        assert await terminate(dsn, "state = 'idle in transaction'") == 1
        proxy.thaw()  # the COMMIT meets a session that is gone
        reply = await next_reply(ws)
        assert_unavailable(reply, request, 0.0)
        assert (await written_by(dsn, user))["rooms"] == 1  # rolled back, nothing half-written

        # Idle: every pooled session at once, as a failover would.
        assert await terminate(dsn, "true") >= 1
        assert (await retry_until_created(ws, request))["request_id"] == request["request_id"]
    await assert_one_room_each(dsn, user, 2)


async def terminate(dsn: str, where: str) -> int:
    """pg_terminate_backend on the server's sessions matching ``where``; how many went."""
    admin = await asyncpg.connect(dsn)
    try:
        killed: int = await admin.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))"
            f" FROM pg_stat_activity WHERE application_name = 'rooms' AND {where}"
        )
    finally:
        await admin.close()
    return killed


async def proxy_frozen(proxy: PostgresProxy) -> bool:
    return not proxy.flowing


async def next_reply(ws: ClientConnection) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), GUARD_S))
    return reply


async def test_a_postgres_restart_is_unavailable_then_the_retry_gets_one_room(
    servers: Servers, owned_postgres: OwnedPostgres, fault_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    dsn = owned_postgres.dsn
    server = await start_server(servers, env_for(dsn, fault_redis, tmp_path))
    user = await add_user(dsn)
    patient = RetryPolicy(attempts=40, base_s=0.05, cap_s=0.5, reply_timeout_s=GUARD_S)
    async with (
        client(server.url, token_for(user)) as ws,
        RoomsClient.connect(server.url, token_for(user), policy=patient) as rooms_client,
    ):
        assert (await ask(ws, create_room()))["type"] == "create_room_ok"
        await asyncio.to_thread(owned_postgres.server.stop)
        try:
            request = create_room()
            reply, took = await timed_ask(ws, request)
            print(f"\nPostgreSQL down: unavailable after {took:.3f}s (bound {DB_TIMEOUT_S}s)")
            assert_unavailable(reply, request, took)
            # No verdict on a token without the database: try again later.
            assert await refusal_status(server.url, token_for(user)) == 503
            retrying = asyncio.create_task(rooms_client.create_room())
            await until(lambda: unavailable_logged(server, 2), "the client's request to fail")
        finally:
            await asyncio.to_thread(owned_postgres.server.start)
        room = await asyncio.wait_for(retrying, GUARD_S)
        assert (await retry_until_created(ws, request))["type"] == "create_room_ok"
    assert server.process.poll() is None  # recovered without a restart
    # An outage, not a bug: no traceback per request or per refused handshake.
    records = [r for r in log_records(server.log()) if r["logger"].startswith("rooms_ws")]
    assert not [r for r in records if "traceback" in r]
    rooms = await fetch(dsn, "SELECT room_id FROM rooms WHERE owner_user_id = $1", user)
    assert room.room_id in {r["room_id"] for r in rooms}
    await assert_one_room_each(dsn, user, 3)


async def unavailable_logged(server: ServerProcess, at_least: int) -> bool:
    records = log_records(server.log())
    return sum(r.get("outcome") == "unavailable" for r in records) >= at_least
