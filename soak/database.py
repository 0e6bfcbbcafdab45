"""The run's rows: its users before, and what the creates left behind after."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from harness.database import add_users

__all__ = ["Written", "add_users", "written"]


@dataclass(frozen=True, slots=True)
class Written:
    room_ids: set[str]
    seats: int
    idempotency_rows: int
    not_completed: int  # idempotency rows in any state but 'completed'


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
