"""The Unit of Work: one pooled connection, one transaction, every store on both."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING, Self

from rooms_adapters.postgres.errors import is_lost, translated
from rooms_adapters.postgres.idempotency import PostgresIdempotencyStore
from rooms_adapters.postgres.pool import PoolSettings
from rooms_adapters.postgres.rooms import PostgresRoomRepository
from rooms_adapters.postgres.users import PostgresUserDirectory

if TYPE_CHECKING:
    from asyncpg.transaction import Transaction

    from rooms_adapters.postgres.pool import Pool, PooledConnection

logger = logging.getLogger(__name__)


class PostgresUnitOfWork:
    """Acquires a connection and begins on enter; rolls back unless committed; always releases.

    The stores exist once entered, and act inside this transaction only: none
    of them opens a transaction of its own.
    """

    idempotency: PostgresIdempotencyStore
    rooms: PostgresRoomRepository
    users: PostgresUserDirectory

    def __init__(self, pool: Pool, settings: PoolSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._conn: PooledConnection | None = None
        self._tx: Transaction | None = None
        self._entered = False
        self.committed = False

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a Unit of Work is entered once; open a new one")
        self._entered = True
        with translated():
            conn = await self._pool.acquire(timeout=self._settings.acquire_timeout_s)
        try:
            tx = conn.transaction()
            with translated(conn):
                await tx.start()
        except BaseException:
            await self._release(conn)
            raise
        self._conn, self._tx = conn, tx
        self.idempotency = PostgresIdempotencyStore(conn)
        self.rooms = PostgresRoomRepository(conn)
        self.users = PostgresUserDirectory(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, tx = self._conn, self._tx
        if conn is None or tx is None:
            return
        try:
            if not self.committed and not is_lost(conn):
                await self._rollback(conn, tx)
        finally:
            self._conn = self._tx = None
            await self._release(conn)

    async def commit(self) -> None:
        """Commit; on StoreUnavailable the outcome is unknown, and a retry with
        the same request id is what settles it (replay or fresh run)."""
        if self._conn is None or self._tx is None:
            raise RuntimeError("commit() outside the Unit of Work's block")
        with translated(self._conn):
            await self._tx.commit()
        self.committed = True

    @staticmethod
    async def _rollback(conn: PooledConnection, tx: Transaction) -> None:
        try:
            await tx.rollback()
        except Exception:
            # The outcome stands without it (nothing was committed), and a
            # connection in an unknown state must not go back to the pool:
            # closing it makes the server roll back.
            logger.warning("rollback failed; closing the connection", exc_info=True)
            conn.terminate()

    async def _release(self, conn: PooledConnection) -> None:
        try:
            await self._pool.release(conn, timeout=self._settings.command_timeout_s)
        except Exception:
            # asyncpg has already closed a connection it could not reset; the
            # caller's outcome does not depend on it.
            logger.warning("connection release failed", exc_info=True)


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
