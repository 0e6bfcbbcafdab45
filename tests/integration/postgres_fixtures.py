"""PostgreSQL fixtures: one server per session, one database per test.

The server is ``ROOMS_TEST_DATABASE_URL`` when set (a DSN on its maintenance
database, used only to create and drop the tests' databases), else an
embedded server in a temporary directory, stopped and deleted at the end.
Every test database is named ``rooms_test_<hex>`` and dropped after the test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from rooms_adapters.embedded.postgres import EmbeddedPostgres
from rooms_adapters.postgres import (
    PoolSettings,
    PostgresUnitOfWorkFactory,
    add_user,
    apply_schema,
    create_pool,
)
from rooms_domain import UserId
from tests.contracts.support import MakeUser

__all__ = [
    "database_url",
    "make_user",
    "pg_pool",
    "pg_settings",
    "postgres_server_url",
    "uow_factory",
    "with_database",
]


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    configured = os.environ.get("ROOMS_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    data_dir = Path(tempfile.mkdtemp(prefix="rooms-test-pg-"))
    data_dir.chmod(0o711)  # as root, the server's own user must be able to reach pgdata
    server = EmbeddedPostgres(data_dir, durable=False)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    name = f"rooms_test_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        # template0: whatever someone left in template1 stays out of the test.
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")
    finally:
        await admin.close()
    url = with_database(postgres_server_url, name)
    try:
        conn = await asyncpg.connect(url)
        try:
            await apply_schema(conn)
        finally:
            await conn.close()
        yield url
    finally:
        admin = await asyncpg.connect(postgres_server_url)
        try:
            # FORCE terminates the database's remaining sessions first.
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


@pytest.fixture
def pg_settings() -> PoolSettings:
    return PoolSettings()


@pytest.fixture
async def pg_pool(
    database_url: str, pg_settings: PoolSettings
) -> AsyncIterator[asyncpg.Pool[asyncpg.Record]]:
    pool = await create_pool(database_url, pg_settings)
    try:
        yield pool
    finally:
        try:
            await asyncio.wait_for(pool.close(), timeout=10)
        except TimeoutError:
            # A test that failed while holding a connection must not hang the teardown.
            pool.terminate()


@pytest.fixture
def uow_factory(
    pg_pool: asyncpg.Pool[asyncpg.Record], pg_settings: PoolSettings
) -> PostgresUnitOfWorkFactory:
    return PostgresUnitOfWorkFactory(pg_pool, pg_settings)


@pytest.fixture
def make_user(pg_pool: asyncpg.Pool[asyncpg.Record]) -> MakeUser:
    async def make(name: str) -> UserId:
        return await add_user(pg_pool, name)

    return make
