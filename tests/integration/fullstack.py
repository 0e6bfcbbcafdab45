"""Helpers for tests that drive a real ``rooms serve`` through its faults.

Every wait here polls a state and has a generous bound that only turns a
hang into a failure; none of them asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection

from tests.integration.server_process import ServerProcess, Servers, fetch, server_env
from tests.integration.ws_support import ask, create_room

GUARD_S = 30.0


async def start_server(
    servers: Servers, env: dict[str, str], *args: str, port: int | None = None
) -> ServerProcess:
    """A ``rooms serve`` stopped by the ``servers`` fixture; waits off the event loop,
    so proxies and clients of this test keep running meanwhile."""
    server = servers.start(env, *args, ready=False, port=port)
    return await asyncio.to_thread(server.wait_ready)


# Takes ``rooms serve`` settings (ROOMS_...=value); gives the server, ready.
Serve = Callable[..., Awaitable[ServerProcess]]


@pytest.fixture
def serve(servers: Servers, database_url: str, redis_url: str, tmp_path: Path) -> Serve:
    """Starts ``rooms serve`` on this test's database and Redis, with these settings."""

    async def start(**settings: str) -> ServerProcess:
        env = server_env(database_url, redis_url, tmp_path / "data", **settings)
        return await start_server(servers, env)

    return start


async def add_user(dsn: str, name: str = "Ann") -> uuid.UUID:
    rows = await fetch(
        dsn,
        "INSERT INTO users (user_id, display_name) VALUES ($1, $2) RETURNING user_id",
        uuid.uuid4(),
        name,
    )
    user_id: uuid.UUID = rows[0]["user_id"]
    return user_id


async def until(
    condition: Callable[[], Awaitable[bool]], what: str, within_s: float = GUARD_S
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` past the bound."""
    try:
        async with asyncio.timeout(within_s):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.05)  # a state in another process: no event to wait on
    except TimeoutError:
        raise AssertionError(f"gave up waiting for {what}") from None


async def timed_create(ws: ClientConnection, **payload: Any) -> tuple[dict[str, Any], float]:
    """One create_room and its reply, with the seconds it took (printed, never asserted)."""
    started = time.perf_counter()
    async with asyncio.timeout(GUARD_S):
        reply = await ask(ws, create_room(**payload))
    return reply, time.perf_counter() - started


async def publish_until_heard(redis: aioredis.Redis, channel: str, message: str) -> None:
    """Publish until some server subscribes to ``channel`` (PUBLISH counts receivers)."""

    async def heard() -> bool:
        return bool(await redis.publish(channel, message))

    await until(heard, f"a subscriber of {channel}")


async def next_frame(ws: ClientConnection, within_s: float = GUARD_S) -> str:
    frame = await asyncio.wait_for(ws.recv(), within_s)
    return frame if isinstance(frame, str) else frame.decode()


# One row per inconsistency between the three tables a create writes; a
# transaction that committed fully or not at all leaves none.
_INCONSISTENT = """
SELECT 'room without 4 seats' AS problem, r.room_id::text AS id FROM rooms r
 WHERE (SELECT count(*) FROM room_seats s WHERE s.room_id = r.room_id) <> 4
UNION ALL
SELECT 'room without its completed request', r.room_id::text FROM rooms r
 WHERE NOT EXISTS (SELECT FROM ws_idempotency k
                   WHERE k.user_id = r.owner_user_id AND k.status = 'completed'
                     AND k.response_payload -> 'result' ->> 'room_id' = r.room_id::text)
UNION ALL
SELECT 'completed request without its room', k.request_id::text FROM ws_idempotency k
 WHERE k.status = 'completed' AND NOT EXISTS (
       SELECT FROM rooms r WHERE r.room_id::text = k.response_payload -> 'result' ->> 'room_id')
UNION ALL
SELECT 'request not completed', k.request_id::text FROM ws_idempotency k
 WHERE k.status <> 'completed'
"""


async def inconsistencies(dsn: str) -> list[tuple[str, str]]:
    return [(r["problem"], r["id"]) for r in await fetch(dsn, _INCONSISTENT)]


async def written_by(dsn: str, user_id: uuid.UUID) -> dict[str, int]:
    """Rows of each table that a user's requests left behind."""
    [row] = await fetch(
        dsn,
        """
        SELECT (SELECT count(*) FROM rooms WHERE owner_user_id = $1) AS rooms,
               (SELECT count(*) FROM room_seats s JOIN rooms r USING (room_id)
                 WHERE r.owner_user_id = $1) AS room_seats,
               (SELECT count(*) FROM ws_idempotency WHERE user_id = $1) AS ws_idempotency
        """,
        user_id,
    )
    return dict(row)
