"""Helpers for the PostgreSQL tests: reading rows back, and faults on real connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Self

import asyncpg

from harness.postgres_proxy import PostgresProxy
from rooms_adapters.postgres import (
    PoolSettings,
    PostgresUnitOfWork,
    PostgresUnitOfWorkFactory,
    create_pool,
)
from rooms_domain import Completion, IdempotencyStore, Room, UserId
from tests.contracts.support import WrappedUnitOfWork


async def rows(pool: asyncpg.Pool[asyncpg.Record], sql: str, *args: object) -> list[dict[str, Any]]:
    """Every row of a query, as plain dicts (enums as text)."""
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def written_by(pool: asyncpg.Pool[asyncpg.Record], user_id: UserId) -> dict[str, int]:
    """How many rows of each table a user's requests left behind."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM rooms WHERE owner_user_id = $1) AS rooms,
                   (SELECT count(*) FROM room_seats s JOIN rooms r USING (room_id)
                     WHERE r.owner_user_id = $1) AS room_seats,
                   (SELECT count(*) FROM ws_idempotency WHERE user_id = $1) AS ws_idempotency
            """,
            user_id,
        )
    assert row is not None
    return dict(row)


async def wait_until_blocked_on_a_lock(
    pool: asyncpg.Pool[asyncpg.Record], *, within_s: float = 10.0
) -> None:
    """Wait until a session of this database waits for a lock: a state, not a delay."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    async with pool.acquire() as conn:
        while not await conn.fetchval(
            "SELECT EXISTS (SELECT FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock')"
        ):
            if loop.time() > deadline:
                raise AssertionError("no session started waiting for a lock")
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def through_a_proxy(
    database_url: str, settings: PoolSettings | None = None
) -> AsyncIterator[tuple[PostgresProxy, PostgresUnitOfWorkFactory]]:
    """A store on one pooled connection that runs through a proxy the test can count
    round trips on, cut or freeze; the pool and the proxy are closed on the way out."""
    settings = settings or PoolSettings(min_size=1, max_size=1)
    proxy = PostgresProxy(database_url)
    pool = await create_pool(await proxy.start(), settings)
    try:
        yield proxy, PostgresUnitOfWorkFactory(pool, settings)
    finally:
        pool.terminate()
        await proxy.close()


class KillAfterRoomInsert:
    """A Unit of Work factory whose transactions lose their server session
    right after the room is inserted: ``pg_terminate_backend`` from another
    connection, as an operator or a failover would."""

    def __init__(self, inner: PostgresUnitOfWorkFactory, admin: asyncpg.Pool[asyncpg.Record]):
        self._inner = inner
        self._admin = admin
        self.killed = 0

    def __call__(self) -> _KillingUnitOfWork:
        return _KillingUnitOfWork(self._inner(), self)

    async def kill(self) -> None:
        async with self._admin.acquire() as conn:
            # The 5 s argument makes the call wait until the session is gone.
            self.killed += await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
            )


class _KillingRooms:
    def __init__(self, uow: PostgresUnitOfWork, killer: KillAfterRoomInsert) -> None:
        self._rooms = uow.rooms
        self._killer = killer
        self.get = self._rooms.get
        self.code_taken = self._rooms.code_taken

    async def add_if_code_free(self, room: Room, completes: Completion | None = None) -> bool:
        inserted = await self._rooms.add_if_code_free(room, completes)
        await self._killer.kill()
        return inserted


class _KillingUnitOfWork(WrappedUnitOfWork[PostgresUnitOfWork]):
    idempotency: IdempotencyStore
    rooms: _KillingRooms

    def __init__(self, inner: PostgresUnitOfWork, killer: KillAfterRoomInsert) -> None:
        super().__init__(inner)
        self._killer = killer

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.idempotency = self._inner.idempotency
        self.rooms = _KillingRooms(self._inner, self._killer)
        return self
