"""UserDirectory over the platform's ``users`` table, and two helpers for tools.

``add_user`` and ``user_exists`` work on the pool directly: the CLI and the
WebSocket handshake need them outside any Unit of Work.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from rooms_adapters.postgres.errors import translated
from rooms_adapters.postgres.idempotency import ClaimState
from rooms_adapters.postgres.pool import PoolSettings
from rooms_domain.model import UserId

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Connection, Pool

_DISPLAY_NAME = "SELECT display_name FROM users WHERE user_id = $1"
_ADD = "INSERT INTO users (user_id, display_name) VALUES ($1, $2)"
_EXISTS = "SELECT EXISTS (SELECT FROM users WHERE user_id = $1)"
_ACQUIRE_TIMEOUT_S = PoolSettings().acquire_timeout_s


class PostgresUserDirectory:
    def __init__(self, conn: Connection, claim: ClaimState | None = None) -> None:
        self._conn = conn
        self._claim = claim

    async def display_name(self, user_id: UserId) -> str | None:
        claim = self._claim
        if claim is not None and claim.named_user == user_id:
            # Read by this Unit of Work's claim statement, in this transaction.
            return claim.display_name
        with translated(self._conn):
            name: str | None = await self._conn.fetchval(_DISPLAY_NAME, user_id)
        return name


async def add_user(
    pool: Pool, display_name: str, *, acquire_timeout_s: float = _ACQUIRE_TIMEOUT_S
) -> UserId:
    """Insert a user with a new id (development and tests: ``users`` is the platform's)."""
    user_id = UserId(uuid.uuid4())
    with translated():
        async with pool.acquire(timeout=acquire_timeout_s) as conn:
            with translated(conn):
                await conn.execute(_ADD, user_id, display_name)
    return user_id


async def user_exists(
    pool: Pool, user_id: UserId, *, acquire_timeout_s: float = _ACQUIRE_TIMEOUT_S
) -> bool:
    """Whether ``user_id`` is a row of ``users`` (the handshake's check)."""
    with translated():
        async with pool.acquire(timeout=acquire_timeout_s) as conn:
            with translated(conn):
                return bool(await conn.fetchval(_EXISTS, user_id))
