"""The Unit of Work: one pooled connection, one transaction, every store on both."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Self

from rooms_adapters.postgres.errors import is_lost, translated
from rooms_adapters.postgres.idempotency import PostgresIdempotencyStore
from rooms_adapters.postgres.pool import PoolSettings
from rooms_adapters.postgres.rooms import PostgresRoomRepository

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Pool, PooledConnection

logger = logging.getLogger(__name__)


class PostgresUnitOfWork:
    """Acquires a connection and begins on enter; rolls back unless committed; always releases.

    The stores exist once entered, and act inside this transaction only: none
    of them opens a transaction of its own.
    """

    idempotency: PostgresIdempotencyStore
    rooms: PostgresRoomRepository

    def __init__(self, pool: Pool, settings: PoolSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._conn: PooledConnection | None = None
        self._entered = False
        self._commit_failed = False
        self.committed = False

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a Unit of Work is entered once; open a new one")
        self._entered = True
        with translated():
            # asyncio.timeout, not acquire(timeout=...): asyncpg bounds that
            # with wait_for, which on Python 3.11 runs a task of its own per call.
            async with asyncio.timeout(self._settings.acquire_timeout_s):
                conn = await self._pool.acquire()
        try:
            # Plain BEGIN/COMMIT/ROLLBACK, which is all asyncpg's Transaction
            # sends too, without its object and state checks per Unit of Work.
            with translated(conn):
                await conn.execute("BEGIN")
        except BaseException:
            await self._release(conn)
            raise
        self._conn = conn
        self.idempotency = PostgresIdempotencyStore(conn)
        self.rooms = PostgresRoomRepository(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            if self._commit_failed:
                # Its outcome is unknown and the connection may still be busy
                # cancelling it: no ROLLBACK after it, the connection goes.
                _terminate(conn)
            elif not self.committed and not is_lost(conn):
                await self._rollback(conn)
        finally:
            self._conn = None
            await self._release(conn)

    async def commit(self) -> None:
        """Commit; on StoreUnavailable the outcome is unknown, and a retry with
        the same request id is what settles it (replay or fresh run)."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("commit() outside the Unit of Work's block")
        if self.committed:
            raise RuntimeError("commit() twice in one Unit of Work")
        try:
            with translated(conn):
                await conn.execute("COMMIT")
        except BaseException:
            self._commit_failed = True
            raise
        self.committed = True

    @staticmethod
    async def _rollback(conn: PooledConnection) -> None:
        try:
            await conn.execute("ROLLBACK")
        except Exception:
            # The outcome stands without it (nothing was committed), and a
            # connection in an unknown state must not go back to the pool:
            # closing it makes the server roll back.
            logger.warning("rollback failed; closing the connection", exc_info=True)
            _terminate(conn)

    async def _release(self, conn: PooledConnection) -> None:
        try:
            await self._pool.release(conn, timeout=self._settings.command_timeout_s)
        except Exception:
            # asyncpg has already closed a connection it could not reset; the
            # caller's outcome does not depend on it.
            logger.warning("connection release failed", exc_info=True)


def _terminate(conn: PooledConnection) -> None:
    if not is_lost(conn):  # a lost one is closed already, and detached from its proxy
        conn.terminate()


class PostgresUnitOfWorkFactory:
    """Callable that opens a :class:`PostgresUnitOfWork` on the pool (the port's factory)."""

    def __init__(self, pool: Pool, settings: PoolSettings) -> None:
        self._pool = pool
        self._settings = settings

    def __call__(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self._pool, self._settings)

    @property
    def pool(self) -> Pool:
        """The pool it opens Units of Work on (read by the metrics: size, idle)."""
        return self._pool
