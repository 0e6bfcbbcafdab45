"""The benchmark's own database: filled with users, read back.

Whatever server it runs on, the benchmark works in a database of its own
(``rooms_bench_<hex>``, see ``harness.database``) and drops it at the end; it
never writes to the database named in the DSN it was given.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Mapping, Sequence

import asyncpg

from harness.server import ROOMS


def apply_schema(dsn: str, env: Mapping[str, str]) -> None:
    """``rooms db init``: the schema exactly as the server expects it."""
    done = subprocess.run(
        [ROOMS, "db", "init"],
        env={**env, "ROOMS_DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rooms db init failed ({done.returncode}):\n{done.stdout}{done.stderr}")


async def _add_users(dsn: str, user_ids: Sequence[uuid.UUID]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO users (user_id, display_name)"
            " SELECT u, 'bench-' || left(u::text, 8) FROM unnest($1::uuid[]) AS u",
            list(user_ids),
        )
    finally:
        await conn.close()


def add_users(dsn: str, count: int, *also: str) -> list[uuid.UUID]:
    """Insert ``count`` users (the platform's table; the benchmark stands in for it),
    the same ones in each database of ``also``."""
    user_ids = [uuid.uuid4() for _ in range(count)]
    for each in (dsn, *also):
        asyncio.run(_add_users(each, user_ids))
    return user_ids


async def _scalar(dsn: str, query: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def scalar(dsn: str, query: str) -> object:
    return asyncio.run(_scalar(dsn, query))


async def _room_ids(dsn: str) -> list[uuid.UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        return [row[0] for row in await conn.fetch("SELECT room_id FROM rooms")]
    finally:
        await conn.close()


def room_ids(dsn: str) -> list[uuid.UUID]:
    """Every room of the benchmark's database: all of them are the benchmark's."""
    return asyncio.run(_room_ids(dsn))
