"""The asyncpg pool: explicit bounds on every wait, JSONB as Python values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
import orjson

from rooms_adapters.postgres.errors import translated

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # asyncpg's classes are generic in the stubs only, hence the guard.
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
    PooledConnection: TypeAlias = PoolConnectionProxy[asyncpg.Record]
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PooledConnection


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Every bound of the pool; the defaults suit one create per message."""

    min_size: int = 2
    max_size: int = 10
    acquire_timeout_s: float = 2.0
    command_timeout_s: float = 5.0
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 500
    idle_in_transaction_timeout_ms: int = 10000

    def server_settings(self) -> dict[str, str]:
        """Session settings sent at connect, so the server enforces them too."""
        return {
            "application_name": "rooms",
            "statement_timeout": str(self.statement_timeout_ms),
            # Short on purpose: a duplicate request waits this long on the
            # original's idempotency row, then gets RequestInProgress.
            "lock_timeout": str(self.lock_timeout_ms),
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_timeout_ms),
        }


async def create_pool(
    dsn: str,
    settings: PoolSettings = PoolSettings(),  # frozen, so one shared default is safe
) -> Pool:
    """Open a pool on ``dsn``; raises StoreUnavailable when the server cannot be reached.

    Connections go back to the pool without ``RESET ALL``: do not ``SET``
    session state on them (``SET LOCAL`` inside a transaction is fine).
    """
    with translated():
        pool: Pool = await asyncpg.create_pool(
            dsn,
            min_size=settings.min_size,
            max_size=settings.max_size,
            # A connection that cannot be made within the acquire bound is of
            # no use to the caller waiting for it.
            timeout=settings.acquire_timeout_s,
            command_timeout=settings.command_timeout_s,
            server_settings=settings.server_settings(),
            init=_init_connection,
            reset=_keep_session,
        )
    return pool


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # Decoding stays with the standard library: orjson reads an integer beyond
    # 64 bits as a float, silently. It runs only on replays and reads.
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_dump_json, decoder=json.loads, format="text"
    )


def _dump_json(value: object) -> str:
    # orjson (compact, UTF-8 like ensure_ascii=False), three times per create.
    # The standard library for what orjson refuses: the domain accepts any
    # JSON number, and orjson stops at 64-bit integers (and non-string keys).
    # One difference: orjson writes NaN and infinities as null where json.dumps
    # raises; RoomSettings.checked refuses them (allow_nan=False) before any
    # value reaches a store, and the other JSONB values are built here.
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # Before calling this, Pool.release rolls back any open transaction. The
    # default reset (advisory unlock, CLOSE ALL, UNLISTEN *, RESET ALL) would
    # cost one round trip per Unit of Work and undo nothing: this package never
    # changes session state.
    return None
