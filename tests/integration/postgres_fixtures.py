"""PostgreSQL fixtures: one server per session, one database per test.

The server is ``ROOMS_TEST_DATABASE_URL`` when set (a DSN on its maintenance
database, used only to create and drop the tests' databases), else an
embedded server in a temporary directory, stopped and deleted at the end.
Every test database is named ``rooms_test_<hex>`` and dropped after the test
(see ``harness.database``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from harness.database import own_database, with_database
from harness.services import postgres_server
from rooms_adapters.postgres import (
    PoolSettings,
    PostgresUnitOfWorkFactory,
    add_user,
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


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_server(os.environ.get("ROOMS_TEST_DATABASE_URL")) as url:
        yield url


@pytest.fixture
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    async with own_database(postgres_server_url, "rooms_test") as url:
        yield url


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
