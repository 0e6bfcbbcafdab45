"""The benchmark's own database: created, filled with users, dropped.

Whatever server it runs on, the benchmark works in a database whose name is
its own (``rooms_bench_<pid>_<random>``) and drops it at the end; it never
writes to the database named in the DSN it was given.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(dsn: str, name: str) -> str:
    """``dsn`` (a postgresql:// URL) pointing at database ``name`` instead."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("the PostgreSQL DSN must be a postgresql:// URL")
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def own_database(server_dsn: str) -> Iterator[str]:
    """Create a uniquely named database on the server of ``server_dsn``; drop it after."""
    name = f"rooms_bench_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(_admin(server_dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_dsn, name)
    finally:
        asyncio.run(_admin(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def rooms_cli() -> Path:
    """The ``rooms`` console script installed beside this interpreter."""
    return Path(sys.executable).with_name("rooms")


def apply_schema(dsn: str, env: Mapping[str, str]) -> None:
    """``rooms db init``: the schema exactly as the server expects it."""
    done = subprocess.run(
        [str(rooms_cli()), "db", "init"],
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


def add_users(dsn: str, count: int) -> list[uuid.UUID]:
    """Insert ``count`` users (the platform's table; the benchmark stands in for it)."""
    user_ids = [uuid.uuid4() for _ in range(count)]
    asyncio.run(_add_users(dsn, user_ids))
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
