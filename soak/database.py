"""The run's rows: its users before, and what the creates left behind after."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class Written:
    room_ids: set[str]
    seats: int
    idempotency_rows: int
    not_completed: int  # idempotency rows in any state but 'completed'


async def add_users(dsn: str, count: int) -> list[uuid.UUID]:
    users = [uuid.uuid4() for _ in range(count)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO users (user_id, display_name) VALUES ($1, $2)",
            [(user, f"Soak {i}") for i, user in enumerate(users)],
        )
    finally:
        await conn.close()
    return users


async def written(dsn: str) -> Written:
    conn = await asyncpg.connect(dsn)
    try:
        rooms = await conn.fetch("SELECT room_id::text AS id FROM rooms")
        seats = await conn.fetchval("SELECT count(*) FROM room_seats")
        rows = await conn.fetchval("SELECT count(*) FROM ws_idempotency")
        unfinished = await conn.fetchval(
            "SELECT count(*) FROM ws_idempotency WHERE status <> 'completed'"
        )
    finally:
        await conn.close()
    return Written({r["id"] for r in rooms}, seats, rows, unfinished)
