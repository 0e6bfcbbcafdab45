"""In-memory adapters for every port, shipped so that tests and other services can use them.

They pass the same contract suites as the PostgreSQL and Redis adapters
(``tests/contracts``). Rollback is real: a Unit of Work stages its writes and
publishes them only on commit. Keys and codes held by an open Unit of Work
block others the way row locks do in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from rooms_adapters.event_fanout import read_room_message
from rooms_domain.errors import (
    IdempotencyKeyReused,
    RequestInProgress,
    StoreUnavailable,
    UnknownUser,
)
from rooms_domain.events import LobbyEvent, event_frame, event_message
from rooms_domain.live_state import LiveRoomView, LiveUpdate
from rooms_domain.model import Room, RoomCode, RoomId, UserId
from rooms_domain.ports import (
    Claim,
    Clock,
    Completion,
    Fresh,
    Listener,
    Replay,
    RoomEvents,
    SeatedRoom,
)
from rooms_domain.replies import RequestKey, StoredReply
from rooms_domain.system_clock import SystemClock

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A finished key: the payload's fingerprint, the reply it got, and when (the sweep's)."""

    fingerprint: str
    reply: StoredReply
    finished_at_ms: int | None = None


@dataclass
class MemoryDatabase:
    """What PostgreSQL would hold, plus the locks open transactions would hold."""

    users: dict[UserId, str] = field(default_factory=dict)
    rooms: dict[RoomId, Room] = field(default_factory=dict)
    idempotency: dict[RequestKey, IdempotencyRecord] = field(default_factory=dict)
    lock_wait_s: float = 0.2
    unavailable: bool = False
    clock: Clock = field(default_factory=SystemClock)
    held_keys: set[RequestKey] = field(default_factory=set)
    held_codes: set[RoomCode] = field(default_factory=set)
    held_rooms: set[RoomId] = field(default_factory=set)
    _released: asyncio.Condition | None = None

    def add_user(self, user_id: UserId, display_name: str) -> None:
        self.users[user_id] = display_name

    def seated_names(self, room: Room) -> dict[UserId, str]:
        """The display names of the room's seated users, as a join on ``users`` reads them."""
        return {
            seat.user_id: self.users[seat.user_id]
            for seat in room.seats
            if seat.user_id is not None
        }

    def codes(self) -> set[RoomCode]:
        return {room.code for room in self.rooms.values()}

    @property
    def released(self) -> asyncio.Condition:
        # Created lazily: a Condition binds to the running loop on first use.
        if self._released is None:
            self._released = asyncio.Condition()
        return self._released

    def check_available(self) -> None:
        if self.unavailable:
            raise StoreUnavailable("the in-memory store was told to be unavailable")


class MemoryUnitOfWork:
    """Stages every write and publishes it on commit, as one transaction would."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._rooms: dict[RoomId, Room] = {}
        self._records: dict[RequestKey, IdempotencyRecord] = {}
        self._claims: dict[RequestKey, str] = {}  # held and not finished: key -> fingerprint
        self._keys: set[RequestKey] = set()  # every key held, finished or not
        self._codes: set[RoomCode] = set()
        self._locked: set[RoomId] = set()
        self.committed = False
        self.idempotency = MemoryIdempotencyStore(db, self)
        self.rooms = MemoryRoomRepository(db, self)

    async def __aenter__(self) -> Self:
        self._db.check_available()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._release()

    async def commit(self) -> None:
        self._db.check_available()
        self._db.rooms.update(self._rooms)
        self._db.idempotency.update(self._records)
        self.committed = True
        await self._release()

    def finish(self, completion: Completion) -> None:
        """Stage a held key's reply (its row would go ``completed`` or ``failed``)."""
        fingerprint = self._claims.pop(completion.key, None)
        if fingerprint is None:
            raise RuntimeError("completion of a key this Unit of Work does not hold")
        self._records[completion.key] = IdempotencyRecord(
            fingerprint, completion.reply, self._db.clock.now_ms()
        )

    async def _release(self) -> None:
        self._db.held_keys -= self._keys
        self._db.held_codes -= self._codes
        self._db.held_rooms -= self._locked
        self._locked.clear()
        self._keys.clear()
        self._claims.clear()
        self._codes.clear()
        self._rooms.clear()
        self._records.clear()
        async with self._db.released:
            self._db.released.notify_all()


class MemoryIdempotencyStore:
    def __init__(self, db: MemoryDatabase, uow: MemoryUnitOfWork) -> None:
        self._db = db
        self._uow = uow

    async def claim(self, key: RequestKey, fingerprint: str) -> Claim:
        self._db.check_available()
        if key in self._db.held_keys and key not in self._uow._keys:
            await self._wait_for_release(key)
        record = self._db.idempotency.get(key)
        if record is not None:
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused(f"request {key.request_id} was used for another payload")
            return Replay(record.reply)
        display_name = self._db.users.get(key.user_id)
        if display_name is None:  # the foreign key to users, in PostgreSQL
            raise UnknownUser(f"no user {key.user_id}")
        self._db.held_keys.add(key)
        self._uow._keys.add(key)
        self._uow._claims[key] = fingerprint
        return Fresh(display_name)

    async def _wait_for_release(self, key: RequestKey) -> None:
        try:
            async with asyncio.timeout(self._db.lock_wait_s), self._db.released:
                await self._db.released.wait_for(lambda: key not in self._db.held_keys)
        except TimeoutError:
            raise RequestInProgress(f"request {key.request_id} is still being processed") from None

    async def complete(self, completion: Completion) -> None:
        self._db.check_available()
        self._uow.finish(completion)


class MemoryRoomRepository:
    def __init__(self, db: MemoryDatabase, uow: MemoryUnitOfWork) -> None:
        self._db = db
        self._uow = uow

    async def add_if_code_free(self, room: Room, completes: Completion | None = None) -> bool:
        self._db.check_available()
        if room.owner_user_id not in self._db.users:
            raise ValueError(f"owner {room.owner_user_id} is not a user (foreign key)")
        if room.room_id in self._db.rooms or room.room_id in self._uow._rooms:
            raise ValueError(f"room {room.room_id} exists (primary key)")
        if room.code in self._db.codes() or room.code in self._db.held_codes:
            return False
        self._db.held_codes.add(room.code)
        self._uow._codes.add(room.code)
        self._uow._rooms[room.room_id] = room
        if completes is not None:
            self._uow.finish(completes)
        return True

    async def get(self, room_id: RoomId) -> Room | None:
        self._db.check_available()
        return self._uow._rooms.get(room_id) or self._db.rooms.get(room_id)

    async def code_taken(self, code: RoomCode) -> bool:
        self._db.check_available()
        return code in self._db.codes() or code in self._uow._codes

    async def lock(self, room_id: RoomId) -> SeatedRoom | None:
        self._db.check_available()
        if room_id not in self._uow._locked:
            if room_id not in self._db.rooms:
                return None
            await self._wait_for(room_id)
            self._db.held_rooms.add(room_id)
            self._uow._locked.add(room_id)
        return await self.load(room_id)

    async def _wait_for(self, room_id: RoomId) -> None:
        # PostgreSQL's lock_timeout: a wait that runs out is an unavailable store.
        try:
            async with asyncio.timeout(self._db.lock_wait_s), self._db.released:
                await self._db.released.wait_for(lambda: room_id not in self._db.held_rooms)
        except TimeoutError:
            raise StoreUnavailable(f"room {room_id} stayed locked too long") from None

    async def claim_and_lock(
        self, key: RequestKey, fingerprint: str, room: RoomId | RoomCode
    ) -> tuple[Claim, SeatedRoom | None]:
        claim = await self._uow.idempotency.claim(key, fingerprint)
        if isinstance(claim, Replay):
            return claim, None
        if isinstance(room, RoomCode):
            return claim, await self.lock_by_code(room)
        return claim, await self.lock(room)

    async def lock_by_code(self, code: RoomCode) -> SeatedRoom | None:
        self._db.check_available()
        room_id = next((r.room_id for r in self._db.rooms.values() if r.code == code), None)
        return None if room_id is None else await self.lock(room_id)

    async def load(self, room_id: RoomId) -> SeatedRoom | None:
        room = await self.get(room_id)
        if room is None:
            return None
        return SeatedRoom(room, self._db.seated_names(room))

    async def save(self, after: Room, completes: Completion | None = None) -> None:
        self._db.check_available()
        if after.room_id not in self._uow._locked:
            raise RuntimeError(f"room {after.room_id} is not locked by this Unit of Work")
        before = self._uow._rooms.get(after.room_id) or self._db.rooms[after.room_id]
        if after.version != before.version + 1:
            raise RuntimeError(f"room {after.room_id} is at version {before.version}")
        for seat in after.seats:
            if seat.user_id is not None and seat.user_id not in self._db.users:
                raise ValueError(f"seat user {seat.user_id} is not a user (foreign key)")
        if completes is not None:
            self._uow.finish(completes)
        self._uow._rooms[after.room_id] = after


class MemoryUnitOfWorkFactory:
    """Callable that opens a Unit of Work on one shared :class:`MemoryDatabase`."""

    def __init__(self, db: MemoryDatabase | None = None) -> None:
        self.db = db if db is not None else MemoryDatabase()

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.db)


# How a view the cache creates from nothing learns who is connected: the
# view to store, and the events to publish after the update's.
NewViewPresence = Callable[[RoomId, LiveUpdate], tuple[LiveRoomView, Sequence[LobbyEvent]]]


class MemoryLiveStateCache:
    """A dict of views; can be told to fail or to hang, as a sick Redis would.

    :meth:`apply` publishes each event on ``events`` when given, and records
    its frame in :attr:`published` either way. Closed rooms are remembered for good
    (Redis forgets its tombstones after a while).
    """

    def __init__(self, events: RoomEvents | None = None) -> None:
        self.views: dict[RoomId, LiveRoomView] = {}
        self.closed: set[RoomId] = set()
        self.published: list[tuple[RoomId, dict[str, object]]] = []
        self.fail_with: Exception | None = None
        self.hang = False
        self._events = events
        # Set by a MemoryPresence over this cache (Redis's step reads the
        # presence keys): None, a view created from nothing shows all connected.
        self.new_view_presence: NewViewPresence | None = None

    async def room_created(self, room_id: RoomId, view: LiveRoomView) -> None:
        await self._misbehave()
        self.views[room_id] = view

    async def read(self, room_id: RoomId) -> LiveRoomView | None:
        await self._misbehave()
        return self.views.get(room_id)

    async def apply(self, room_id: RoomId, update: LiveUpdate) -> None:
        await self._misbehave()
        stored = self.views.get(room_id)
        found: Sequence[LobbyEvent] = ()
        if update.closed:
            self.views.pop(room_id, None)
            self.closed.add(room_id)
        elif room_id not in self.closed and (stored is None or stored.version < update.version):
            view = update.view.written_over(stored)
            if stored is None and self.new_view_presence is not None:
                view, found = self.new_view_presence(room_id, update)
            self.views[room_id] = view
        for event in (*update.events, *found):
            await self.publish(room_id, event, self._events)

    async def publish(self, room_id: RoomId, event: LobbyEvent, events: RoomEvents | None) -> None:
        """Record the event's frame in :attr:`published`, and publish it on ``events`` if given."""
        self.published.append((room_id, event_frame(event)))
        if events is not None:
            await events.publish(room_id, event_message(event))

    async def _misbehave(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.fail_with is not None:
            raise self.fail_with


class MemorySubscription:
    def __init__(self, events: MemoryRoomEvents, room_id: RoomId, listener: Listener) -> None:
        self._events = events
        self.room_id = room_id
        self.listener = listener

    async def close(self) -> None:
        listeners = self._events.listeners.get(self.room_id)
        if listeners is not None:
            listeners.pop(self, None)
            if not listeners:
                del self._events.listeners[self.room_id]


class MemoryRoomEvents:
    """Room channels within one process; ``publish`` calls the listeners before it returns."""

    def __init__(self) -> None:
        # Per room, its subscriptions in order (a dict as an ordered set).
        self.listeners: dict[RoomId, dict[MemorySubscription, None]] = {}

    async def subscribe(self, room_id: RoomId, listener: Listener) -> MemorySubscription:
        subscription = MemorySubscription(self, room_id, listener)
        self.listeners.setdefault(room_id, {})[subscription] = None
        return subscription

    async def publish(self, room_id: RoomId, message: str) -> None:
        listeners = self.listeners.get(room_id)
        if not listeners:
            return
        # Read once for every listener, as the Redis bus's fan-out does.
        read = read_room_message(message)
        for subscription in tuple(listeners):
            if subscription not in listeners:
                continue  # closed by a listener called before it
            try:
                subscription.listener(read)
            except Exception:
                # One broken listener must not starve the others of the event.
                logger.exception("room event listener failed for room %s", room_id)
