"""Players on real servers through the Python client (``rooms_client``), their events kept.

A :class:`Socket` is one :class:`RoomsClient` on one instance: a reader task
keeps every room event it receives, typed, in arrival order and raw (no
deduplication, no resynchronisation), so a test can count what a socket
heard: "exactly one ``player_left``" is a count over :attr:`Socket.heard`.
Waits poll that list with a generous bound (``fullstack.until``); none of
them asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any, TypeVar

from rooms_client import LobbyEvent, RetryPolicy, RoomsClient, RoomsClientError
from rooms_client.events import parse_event
from tests.integration.fullstack import GUARD_S, until
from tests.integration.ws_support import token_for

E = TypeVar("E", bound=LobbyEvent)

# Patient with a loaded machine: a reply may take seconds while servers start
# or a burst runs. A socket the server drops (a ping answered late) is opened
# again by the client itself, on the same instance.
PATIENT = RetryPolicy(reply_timeout_s=20.0, open_timeout_s=20.0)


class Socket:
    """One client connection of ``user_id`` to ``url`` and every room event it received."""

    def __init__(self, client: RoomsClient, url: str, user_id: uuid.UUID) -> None:
        self.client = client
        self.url = url
        self.user_id = user_id
        self.heard: list[LobbyEvent] = []
        self._reader = asyncio.create_task(self._read(), name=f"events of {user_id}")

    @classmethod
    async def open(cls, url: str, user_id: uuid.UUID) -> Socket:
        client = RoomsClient(url, token_for(user_id), policy=PATIENT)
        try:
            await client.start()
        except BaseException:
            await client.aclose()
            raise
        return cls(client, url, user_id)

    async def _read(self) -> None:
        # Ends when the client is closed (or gives up reconnecting: an instance killed).
        with contextlib.suppress(RoomsClientError):
            async for raw in self.client.room_events():
                event = parse_event(raw)
                if event is not None:
                    self.heard.append(event)

    async def close(self) -> None:
        """Close the socket (the server sees it go) and stop reading."""
        await self.client.aclose()
        await asyncio.gather(self._reader, return_exceptions=True)

    def of(self, kind: type[E], **fields: Any) -> list[E]:
        """The events of ``kind`` heard so far whose fields have these values."""
        return [
            e
            for e in self.heard
            if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())
        ]

    async def hears(self, kind: type[E], within_s: float = GUARD_S, **fields: Any) -> E:
        """The first event of ``kind`` with these fields, once heard."""

        async def heard() -> bool:
            return bool(self.of(kind, **fields))

        await until(heard, f"{kind.type} {fields} on the socket of {self.user_id}", within_s)
        return self.of(kind, **fields)[0]
