"""Helpers shared by the contract suites."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Generic, Self, TypeVar

from rooms_domain import (
    RequestId,
    Room,
    RoomCode,
    RoomId,
    RoomSettings,
    UnitOfWork,
    UserId,
    Visibility,
)

MakeUser = Callable[[str], Awaitable[UserId]]

Inner = TypeVar("Inner", bound=UnitOfWork)


class WrappedUnitOfWork(Generic[Inner]):
    """A Unit of Work that hands begin, end and commit to a real one.

    Tests that inject a fault (a killed session, yields to the loop) subclass it
    and override only the step they disturb, so the transaction's own rules stay
    the wrapped adapter's.
    """

    def __init__(self, inner: Inner) -> None:
        self._inner = inner

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        await self._inner.commit()


def new_room(
    owner: UserId,
    code: str,
    *,
    max_players: int = 4,
    config: dict[str, object] | None = None,
    room_id: RoomId | None = None,
) -> Room:
    settings = RoomSettings(Visibility.PRIVATE, max_players, "classic", config or {})
    return Room.open(
        room_id=room_id or RoomId(uuid.uuid4()), owner=owner, code=RoomCode(code), settings=settings
    )


def new_request_id() -> RequestId:
    return RequestId(uuid.uuid4())


def random_code() -> str:
    from rooms_domain import SecureCodeGenerator

    return str(SecureCodeGenerator().next_code())


async def eventually(check: Callable[[], bool], *, within_s: float = 5.0) -> None:
    """Poll until ``check()`` holds; a bound on failure, not a timing assertion."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition did not hold in time")
        await asyncio.sleep(0.01)
