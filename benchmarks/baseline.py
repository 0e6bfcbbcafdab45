"""Phase 1, floor: the story's transaction straight from asyncpg, six round trips.

BEGIN; claim the idempotency row (in_progress); insert the room; insert its
four seats (one multi-row INSERT); mark the idempotency row completed with the
response; COMMIT. One connection per client, C clients back to back: what the
server would achieve if the WebSocket layer, validation, the domain and Redis
cost nothing and it issued the plain statements.

The room insert skips a taken code (``ON CONFLICT (code) DO NOTHING``) and
draws again, as the story asks: over a run of 10^5 rooms a collision in 32^6
codes is likely.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection

import asyncpg
import orjson

from benchmarks import aio
from benchmarks.stats import WindowResult
from benchmarks.window import Window

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

CLAIM = """
INSERT INTO ws_idempotency (user_id, request_id, status)
VALUES ($1, $2, 'in_progress')
"""
INSERT_ROOM = """
INSERT INTO rooms (room_id, owner_user_id, code, visibility, status, max_players,
                   ruleset_id, ruleset_config, version)
VALUES ($1, $2, $3, 'private', 'open', 4, 'classic', '{}'::jsonb, 0)
ON CONFLICT (code) DO NOTHING
"""
INSERT_SEATS = """
INSERT INTO room_seats (room_id, seat_index, status, user_id, is_host, ready)
VALUES ($1, 0, 'occupied', $2, true, 'not_ready'),
       ($1, 1, 'empty', NULL, false, 'not_ready'),
       ($1, 2, 'empty', NULL, false, 'not_ready'),
       ($1, 3, 'empty', NULL, false, 'not_ready')
"""
COMPLETE = """
UPDATE ws_idempotency SET status = 'completed', response_payload = $3::jsonb
WHERE user_id = $1 AND request_id = $2
"""


# The same rows in one statement, one round trip and no BEGIN/COMMIT: the
# ceiling of a server that sends one statement per create. The idempotency row
# is written 'completed' at once (nobody can see it before the commit anyway);
# a taken code leaves ``room`` empty, and the division by zero then aborts the
# statement, claim included, so that the client draws again.
ONE_STATEMENT = """
WITH claim AS (
    INSERT INTO ws_idempotency (user_id, request_id, status, response_payload)
    VALUES ($1, $2, 'completed', $5::jsonb)
    RETURNING user_id
), room AS (
    INSERT INTO rooms (room_id, owner_user_id, code, visibility, status, max_players,
                       ruleset_id, ruleset_config, version)
    SELECT $3, user_id, $4, 'private', 'open', 4, 'classic', '{}'::jsonb, 0 FROM claim
    ON CONFLICT (code) DO NOTHING
    RETURNING room_id
), seats AS (
    INSERT INTO room_seats (room_id, seat_index, status, user_id, is_host, ready)
    SELECT room_id, i, CASE WHEN i = 0 THEN 'occupied' ELSE 'empty' END::seat_status,
           CASE WHEN i = 0 THEN $1::uuid END, i = 0, 'not_ready'
    FROM room, generate_series(0, 3) AS i
)
SELECT 1 / (SELECT count(*)::int FROM room)
"""


@dataclass(frozen=True, slots=True)
class BaselinePlan:
    dsn: str
    user_ids: list[uuid.UUID]
    warmup_s: float
    duration_s: float
    one_statement: bool = False


def run_baseline(channel: Connection, plan: BaselinePlan) -> WindowResult:
    """Worker entry point: returns what the window saw."""
    return aio.run(_baseline(channel, plan))


async def _baseline(channel: Connection, plan: BaselinePlan) -> WindowResult:
    connections = await asyncio.gather(*(asyncpg.connect(plan.dsn) for _ in plan.user_ids))
    try:
        window = Window.open(channel, plan.warmup_s, plan.duration_s)
        await asyncio.gather(
            *(
                _client(c, user, window, plan.one_statement)
                for c, user in zip(connections, plan.user_ids, strict=True)
            )
        )
    finally:
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
    return window.result()


def _code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


async def _client(
    conn: asyncpg.Connection, user_id: uuid.UUID, window: Window, one_statement: bool
) -> None:
    create = create_room_in_one if one_statement else create_room
    while not window.over():
        sent = time.monotonic()
        try:
            await create(conn, user_id)
        except asyncpg.PostgresError as exc:
            window.failure(type(exc).__name__, time.monotonic())
        else:
            window.success(sent, time.monotonic())


async def create_room(conn: asyncpg.Connection, user_id: uuid.UUID) -> uuid.UUID:
    """The six statements (more only on a code collision); returns the room id."""
    request_id, room_id = uuid.uuid4(), uuid.uuid4()
    async with conn.transaction():
        await conn.execute(CLAIM, user_id, request_id)
        code = _code()
        while await conn.execute(INSERT_ROOM, room_id, user_id, code) == "INSERT 0 0":
            code = _code()
        await conn.execute(INSERT_SEATS, room_id, user_id)
        response = _response(request_id, room_id, code)
        await conn.execute(COMPLETE, user_id, request_id, response)
    return room_id


async def create_room_in_one(conn: asyncpg.Connection, user_id: uuid.UUID) -> uuid.UUID:
    """The same rows in one statement (more only on a code collision)."""
    request_id, room_id = uuid.uuid4(), uuid.uuid4()
    while True:
        code = _code()
        response = _response(request_id, room_id, code)
        try:
            await conn.execute(ONE_STATEMENT, user_id, request_id, room_id, code, response)
        except asyncpg.DivisionByZeroError:
            continue  # the code was taken: nothing was written, draw again
        return room_id


def _response(request_id: uuid.UUID, room_id: uuid.UUID, code: str) -> str:
    return orjson.dumps(
        {
            "type": "create_room_ok",
            "request_id": str(request_id),
            "payload": {"room_id": str(room_id), "code": code, "seat_index": 0, "is_host": True},
        }
    ).decode()
