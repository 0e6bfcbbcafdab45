"""A database of one's own on a PostgreSQL server: created, used, dropped.

Tests, benchmarks and the soak never write to the database named in the DSN
they are given (a maintenance DSN): each works in ``<prefix>_<hex>``, created
from ``template0`` (whatever someone left in template1 stays out) and dropped
``WITH (FORCE)`` at the end (which first ends the sessions a crashed server
may have left).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from rooms_adapters.postgres import apply_schema


def with_database(dsn: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("the PostgreSQL DSN must be a postgresql:// URL")
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


async def execute(dsn: str, statement: str) -> None:
    """One statement on a connection of its own."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(server_dsn: str, prefix: str, *, schema: bool = True) -> str:
    """A new database ``<prefix>_<hex>`` on the server of ``server_dsn`` (with the schema)."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    await execute(server_dsn, f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")
    dsn = with_database(server_dsn, name)
    if schema:
        conn = await asyncpg.connect(dsn)
        try:
            await apply_schema(conn)
        finally:
            await conn.close()
    return dsn


async def drop_database(server_dsn: str, dsn: str) -> None:
    await execute(server_dsn, f"DROP DATABASE IF EXISTS {database_name(dsn)} WITH (FORCE)")


async def add_users(dsn: str, count: int, name: str = "Soak") -> list[uuid.UUID]:
    """``count`` new users, named ``<name> <i>``, on one connection; their ids in order."""
    users = [uuid.uuid4() for _ in range(count)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO users (user_id, display_name) VALUES ($1, $2)",
            [(user, f"{name} {i}") for i, user in enumerate(users)],
        )
    finally:
        await conn.close()
    return users


@asynccontextmanager
async def own_database(server_dsn: str, prefix: str, *, schema: bool = True) -> AsyncIterator[str]:
    """The DSN of a database of one's own, dropped on the way out."""
    dsn = await create_database(server_dsn, prefix, schema=schema)
    try:
        yield dsn
    finally:
        await drop_database(server_dsn, dsn)


@contextmanager
def own_database_sync(server_dsn: str, prefix: str, *, schema: bool = True) -> Iterator[str]:
    """:func:`own_database` for code with no event loop of its own (the benchmark)."""
    dsn = asyncio.run(create_database(server_dsn, prefix, schema=schema))
    try:
        yield dsn
    finally:
        asyncio.run(drop_database(server_dsn, dsn))
