"""Two helpers over the platform's ``users`` table, for tools and the handshake.

They work on the pool directly: the CLI and the WebSocket handshake need them
outside any Unit of Work. Inside one, the claim of a request reads the
claimant's display name (``idempotency.py``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from rooms_adapters.postgres.errors import translated
from rooms_adapters.postgres.pool import PoolSettings
from rooms_domain.model import UserId

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Pool

_ADD = "INSERT INTO users (user_id, display_name) VALUES ($1, $2)"
_EXISTS = "SELECT EXISTS (SELECT FROM users WHERE user_id = $1)"
_ACQUIRE_TIMEOUT_S = PoolSettings().acquire_timeout_s


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
