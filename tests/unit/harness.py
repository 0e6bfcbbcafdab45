"""A CreateRoom wired to the in-memory adapters, and what the unit tests read back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from rooms_adapters.memory import (
    MemoryDatabase,
    MemoryLiveStateCache,
    MemoryUnitOfWorkFactory,
)
from rooms_domain import (
    CodeGenerator,
    CreateRoom,
    CreateRoomCommand,
    CreateRoomOk,
    RequestId,
    RequestKey,
    Room,
    RoomEvents,
    SecureCodeGenerator,
    UnitOfWorkFactory,
    UserId,
)
from rooms_ws.rate_limit import KeyedBudget
from rooms_ws.session import LobbyServices, SessionLimits, SessionServices

NOW_MS = 1_764_000_000_123

SESSION_LIMITS = SessionLimits(
    max_message_bytes=65536,
    rate_per_second=1000.0,
    rate_burst=1000,
    rate_abuse_strikes=100,
    outbox_size=8,
    send_timeout_s=5.0,
    max_followed_rooms=64,
)


class FixedClock:
    def __init__(self, now_ms: int = NOW_MS) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


@dataclass
class Harness:
    db: MemoryDatabase
    cache: MemoryLiveStateCache
    codes: CodeGenerator
    clock: FixedClock
    create_room: CreateRoom

    def add_user(self, name: str = "Ann") -> UserId:
        user_id = UserId(uuid.uuid4())
        self.db.add_user(user_id, name)
        return user_id

    def rooms_of(self, user_id: UserId) -> list[Room]:
        return [room for room in self.db.rooms.values() if room.owner_user_id == user_id]

    def stored_reply(self, user_id: UserId, request_id: RequestId) -> CreateRoomOk:
        """The reply the idempotency record of (user, request id) replays."""
        record = self.db.idempotency[RequestKey(user_id, request_id)]
        return CreateRoomOk.from_payload(record.reply.replayed())

    def assert_nothing_written(self) -> None:
        """No room, no idempotency record, no live view, and no lock left held."""
        assert self.db.rooms == {}
        assert self.db.idempotency == {}
        assert self.cache.views == {}
        assert self.db.held_keys == set()
        assert self.db.held_codes == set()

    def session_services(
        self, events: RoomEvents, create_room: CreateRoom | None = None, **limits: Any
    ) -> SessionServices:
        """A WebSocket session's services on this harness's stores, publishing on ``events``,
        with ``SESSION_LIMITS`` but for ``limits``."""
        return SessionServices(
            create_room=self.create_room if create_room is None else create_room,
            events=events,
            limits=replace(SESSION_LIMITS, **limits),
            create_budget=KeyedBudget(per_minute=1000),
            lobby=LobbyServices.on(
                uow_factory=MemoryUnitOfWorkFactory(self.db),
                live_state=self.cache,
                clock=self.clock,
                live_state_timeout_s=0.05,
                presence=None,
            ),
        )


def new_request_id() -> RequestId:
    return RequestId(uuid.uuid4())


def command(
    user_id: UserId, request_id: RequestId | None = None, **payload: object
) -> CreateRoomCommand:
    """A create_room command from a payload; ``ruleset_id`` is "classic" unless given."""
    return CreateRoomCommand.from_payload(
        user_id,
        request_id if request_id is not None else new_request_id(),
        {"ruleset_id": "classic", **payload},
    )


def make_harness(
    *,
    codes: CodeGenerator | None = None,
    max_code_draws: int = 8,
    live_state_timeout_s: float = 0.05,
    lock_wait_s: float = 0.2,
    uow_factory: Callable[[MemoryDatabase], UnitOfWorkFactory] = MemoryUnitOfWorkFactory,
) -> Harness:
    db = MemoryDatabase(lock_wait_s=lock_wait_s)
    cache = MemoryLiveStateCache()
    codes = codes if codes is not None else SecureCodeGenerator()
    clock = FixedClock()
    create_room = CreateRoom(
        uow_factory=uow_factory(db),
        codes=codes,
        live_state=cache,
        clock=clock,
        max_code_draws=max_code_draws,
        live_state_timeout_s=live_state_timeout_s,
    )
    return Harness(db, cache, codes, clock, create_room)
