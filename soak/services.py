"""PostgreSQL and Redis for one soak run, created for it and removed after it.

PostgreSQL: an embedded server in a temporary directory, or, with
``ROOMS_SOAK_DATABASE_URL`` (a maintenance DSN), a database of its own on
that server, dropped at the end. Redis is always a private embedded server:
the soak kills and freezes it, which no shared Redis should suffer.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from rooms_adapters.embedded.postgres import EmbeddedPostgres
from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_adapters.postgres import apply_schema

DATABASE_URL_VARIABLE = "ROOMS_SOAK_DATABASE_URL"


@dataclass(frozen=True, slots=True)
class Services:
    dsn: str  # the run's database, schema applied
    redis: EmbeddedRedis  # the flapper's to kill and restart
    work_dir: Path  # logs and the server's data dir
    postgres_origin: str


def _private_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)  # as root, the embedded PostgreSQL's own user must reach it
    return path


@asynccontextmanager
async def services() -> AsyncIterator[Services]:
    work_dir = await asyncio.to_thread(_private_dir, "rooms-soak-")
    redis = EmbeddedRedis(work_dir / "redis")
    try:
        await asyncio.to_thread(redis.start)
        async with _database(work_dir) as (dsn, origin):
            yield Services(dsn, redis, work_dir, origin)
    finally:
        await asyncio.to_thread(redis.stop)
        await asyncio.to_thread(shutil.rmtree, work_dir, True)


@asynccontextmanager
async def _database(work_dir: Path) -> AsyncIterator[tuple[str, str]]:
    configured = os.environ.get(DATABASE_URL_VARIABLE)
    if configured:
        async with _own_database(configured) as dsn:
            yield dsn, f"a database of its own on {DATABASE_URL_VARIABLE}"
        return
    server = EmbeddedPostgres(work_dir / "postgres", durable=False)
    admin_dsn = await asyncio.to_thread(server.start)
    try:
        async with _own_database(admin_dsn) as dsn:
            yield dsn, "embedded"
    finally:
        await asyncio.to_thread(server.stop)


@asynccontextmanager
async def _own_database(admin_dsn: str) -> AsyncIterator[str]:
    name = f"rooms_soak_{uuid.uuid4().hex}"
    await _admin(admin_dsn, f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")
    try:
        dsn = urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}"))
        conn = await asyncpg.connect(dsn)
        try:
            await apply_schema(conn)
        finally:
            await conn.close()
        yield dsn
    finally:
        # FORCE ends the sessions a crashed server might have left.
        await _admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
