"""Driver errors translated at the boundary: the core only ever sees domain errors.

A database that is unreachable, lost mid-transaction, overloaded or too slow
is one condition for the caller: :class:`~rooms_domain.StoreUnavailable`
(retry later; nothing was created). Anything else from the driver is a bug
and propagates unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def translated(conn: Connection | None = None) -> Iterator[None]:
    """Turn the driver's "database unavailable" errors into StoreUnavailable.

    ``conn`` tells a lost connection (asyncpg's InterfaceError "connection is
    closed") from a misuse of the driver, which is a bug and propagates.
    """
    try:
        yield
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable: {_describe(exc)}") from exc
    except asyncpg.InterfaceError as exc:
        if conn is None or not is_lost(conn):
            raise
        raise StoreUnavailable(f"PostgreSQL connection lost: {_describe(exc)}") from exc


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
