"""The connections of this process: the caps of docs/protocol.md §7 and the list SIGTERM walks.

uvicorn's ``--limit-concurrency`` does not count WebSockets, so the app keeps
its own count. Reservations are synchronous (no ``await`` between the check
and the count), so concurrent handshakes cannot both take the last slot.
"""

from __future__ import annotations

import asyncio
import enum
from collections import Counter
from typing import Protocol

from rooms_domain.model import UserId
from rooms_ws.errors import CloseCode


class Closable(Protocol):
    def request_close(self, code: CloseCode, *, flush: bool) -> None: ...


class Refusal(enum.IntEnum):
    """Why a handshake is refused, as the HTTP status it is refused with."""

    UNAUTHORIZED = 401
    FORBIDDEN_ORIGIN = 403
    USER_LIMIT = 429
    SERVER_FULL = 503


class ConnectionRegistry:
    def __init__(self, *, max_connections: int, max_per_user: int) -> None:
        self._max = max_connections
        self._max_per_user = max_per_user
        self._per_user: Counter[UserId] = Counter()
        self._total = 0
        self._open: set[Closable] = set()
        self._empty = asyncio.Event()
        self._empty.set()
        self.draining = False

    @property
    def total(self) -> int:
        return self._total

    @property
    def connections(self) -> list[Closable]:
        return list(self._open)

    def full(self) -> bool:
        """Cheap early check, before the token and the database are looked at."""
        return self.draining or self._total >= self._max

    def reserve(self, user_id: UserId) -> Refusal | None:
        """Count one more connection of ``user_id``, or say why not."""
        if self.full():
            return Refusal.SERVER_FULL
        if self._per_user[user_id] >= self._max_per_user:
            return Refusal.USER_LIMIT
        self._per_user[user_id] += 1
        self._total += 1
        self._empty.clear()
        return None

    def attach(self, connection: Closable) -> None:
        self._open.add(connection)
        if self.draining:
            # Accepted while the drain began: it gets the same treatment as the rest.
            connection.request_close(CloseCode.SERVICE_RESTART, flush=True)

    def release(self, user_id: UserId, connection: Closable | None) -> None:
        if connection is not None:
            self._open.discard(connection)
        self._per_user[user_id] -= 1
        if self._per_user[user_id] <= 0:
            del self._per_user[user_id]
        self._total -= 1
        if self._total == 0:
            self._empty.set()

    async def drain(self, grace_s: float) -> bool:
        """Refuse new connections, close the open ones with 1012 after their request in flight.

        Returns whether every connection was gone within ``grace_s``.
        """
        self.draining = True
        for connection in list(self._open):
            connection.request_close(CloseCode.SERVICE_RESTART, flush=True)
        try:
            async with asyncio.timeout(grace_s):
                await self._empty.wait()
        except TimeoutError:
            return False
        return True
