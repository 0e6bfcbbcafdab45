"""Driver errors translated at the boundary: the core only ever sees domain errors.

A database that is unreachable, lost mid-transaction, overloaded or too slow
is one condition for the caller: :class:`~rooms_domain.StoreUnavailable`
(retry later; nothing was created). Anything else from the driver is a bug
and propagates unchanged.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING

import asyncpg
from asyncpg import exceptions as pg

from rooms_domain.errors import StoreUnavailable

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Connection

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable: ConnectionError and socket errors
    TimeoutError,  # the acquire bound or command_timeout (asyncio's is this one)
    pg.PostgresConnectionError,  # SQLSTATE class 08
    # Class 57: statement_timeout (query canceled), pg_terminate_backend
    # (admin shutdown), crash, "cannot connect now", database dropped.
    pg.OperatorInterventionError,
    pg.InsufficientResourcesError,  # class 53: too many connections, disk full
    pg.LockNotAvailableError,  # lock_timeout: a competing transaction held on too long
    pg.IdleInTransactionSessionTimeoutError,
    # Deadlock or serialization failure: the server rolled the work back, and
    # running it again is the documented remedy.
    pg.TransactionRollbackError,
)


class _Translated:
    """The context manager behind :func:`translated`.

    A plain class rather than ``@contextmanager``: it wraps every statement,
    and a generator-based manager costs a generator, its frame and two resumes
    per use.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection | None) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, _UNAVAILABLE):
            raise StoreUnavailable(f"PostgreSQL unavailable: {_describe(exc)}") from exc
        if isinstance(exc, asyncpg.InterfaceError):
            conn = self._conn
            if conn is not None and is_lost(conn):
                raise StoreUnavailable(f"PostgreSQL connection lost: {_describe(exc)}") from exc
        # Anything else propagates unchanged.


def translated(conn: Connection | None = None) -> AbstractContextManager[None]:
    """Turn the driver's "database unavailable" errors into StoreUnavailable.

    ``conn`` tells a lost connection (asyncpg's InterfaceError "connection is
    closed") from a misuse of the driver, which is a bug and propagates.
    """
    return _Translated(conn)


def is_lost(conn: Connection) -> bool:
    """Whether the connection is closed (by us, the server or the network)."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        # The pool detaches a connection from its proxy as soon as it closes;
        # the proxy then refuses every call, is_closed() included.
        return True


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
