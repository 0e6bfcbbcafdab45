"""The ports: what the domain needs from the outside world, and nothing more.

A Unit of Work owns one transaction; the stores it exposes all act inside it.
Where an adapter does two steps in one statement, the port names both (a
room added *and* its request completed), so that a use case reads in the
order it runs and no store hands state to another behind the caller.
Adapters implement these Protocols; ``rooms_adapters.memory`` holds fakes
that pass the same contract suites as the real adapters.

Every request runs the same way: claim its key (``Fresh`` or ``Replay``),
apply the rules, write with a :class:`Completion` (the write and the key's
reply in one statement), commit. A request the room's state refuses stores
its refusal the same way (``IdempotencyStore.complete``), commits, and raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple, Protocol, Self

from rooms_domain.live_state import LiveRoomView, LiveUpdate
from rooms_domain.model import Room, RoomCode, RoomId, UserId
from rooms_domain.replies import RequestKey, StoredReply


@dataclass(frozen=True, slots=True)
class Fresh:
    """The key was free and is now held by this Unit of Work.

    The claim's statement also read the claimant's display name (every
    request of the lobby needs it, or the user's existence): no second trip.
    """

    display_name: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was finished earlier with the same payload; ``reply`` is what it got."""

    reply: StoredReply


Claim = Fresh | Replay


@dataclass(frozen=True, slots=True)
class Completion:
    """A key held by this Unit of Work, finished with its reply.

    A success makes the key ``completed``, a refusal ``failed``; either way,
    later claims of the key replay ``reply``.
    """

    key: RequestKey
    reply: StoredReply


class IdempotencyStore(Protocol):
    """Records of (user, request id); one per request that ever committed."""

    async def claim(self, key: RequestKey, fingerprint: str) -> Claim:
        """Hold the key and read the claimant's display name, or return the stored reply.

        Raises UnknownUser when the claimant is not a user, IdempotencyKeyReused
        when the key was finished for another fingerprint, and RequestInProgress
        when another Unit of Work holds it for longer than the store will wait.
        """
        ...

    async def complete(self, completion: Completion) -> None:
        """Finish a held key with its reply, when no room write carries it.

        Raises RuntimeError for a key this Unit of Work does not hold (or
        already finished).
        """
        ...


@dataclass(frozen=True, slots=True)
class SeatedRoom:
    """A room as one statement read it: its seats, and the names of their occupants."""

    room: Room
    display_names: Mapping[UserId, str]


class RoomRepository(Protocol):
    """Durable rooms with their seats; join codes are unique over all rooms."""

    async def add_if_code_free(self, room: Room, completes: Completion | None = None) -> bool:
        """Insert the room and its seats unless its code is taken; say whether it was inserted.

        A taken code must not spoil the transaction: the caller draws again.
        With ``completes``, the same step also finishes that key with its reply,
        and only if the room went in: one statement for the room, its seats and
        the request's completion. Raises RuntimeError (after inserting) when
        this Unit of Work does not hold the key.
        """
        ...

    async def get(self, room_id: RoomId) -> Room | None:
        """The room with its seats, or None."""
        ...

    async def code_taken(self, code: RoomCode) -> bool:
        """Whether any room holds this code."""
        ...

    async def lock(self, room_id: RoomId) -> SeatedRoom | None:
        """Lock the room until this Unit of Work ends and read it, or None.

        One statement: the room row locked (``SELECT ... FOR UPDATE``), its
        seats and the seated users' display names. A second Unit of Work
        locking the same room waits for this one to end, then reads what it
        committed, so changes to one room never interleave. Raises
        StoreUnavailable when the wait runs out.
        """
        ...

    async def claim_and_lock(
        self, key: RequestKey, fingerprint: str, room: RoomId | RoomCode
    ) -> tuple[Claim, SeatedRoom | None]:
        """:meth:`IdempotencyStore.claim`, and for a fresh claim :meth:`lock` (by id or code).

        One step, as a lobby request begins: the key held and the room it is
        about locked and read (None when there is no such room). A claim that
        is not fresh locks and reads nothing. Raises what ``claim`` raises,
        and StoreUnavailable when the wait for the room runs out.
        """
        ...

    async def lock_by_code(self, code: RoomCode) -> SeatedRoom | None:
        """As :meth:`lock`, for the room holding this join code (closed rooms too)."""
        ...

    async def load(self, room_id: RoomId) -> SeatedRoom | None:
        """As :meth:`lock` without the lock: a read of the committed room."""
        ...

    async def save(self, after: Room, completes: Completion | None = None) -> None:
        """Write a locked room as it is after a change, and finish the request's key.

        One statement: the room's status and ``version`` (which must be one
        more than the stored one), the seats that differ, and the key's reply.
        Without ``completes`` (a change no request made: a held seat's
        release), the room alone.
        Raises RuntimeError, writing nothing, when the room is not locked by
        this Unit of Work at ``after.version - 1`` or the key is not held.
        """
        ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``async with`` without :meth:`commit` rolls back."""

    # Read-only properties, so adapters may expose their own concrete stores.
    @property
    def idempotency(self) -> IdempotencyStore: ...

    @property
    def rooms(self) -> RoomRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Make every change of this Unit of Work durable, at once."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class CodeGenerator(Protocol):
    def next_code(self) -> RoomCode:
        """A candidate join code; uniqueness is the repository's to check."""
        ...


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class LiveStateFailure(Exception):
    """A :class:`LiveStateCache` call failed in a way its adapter expects and has reported.

    Adapters derive their outage errors (unreachable, too slow, skipped while
    a circuit breaker is open) from this class. Such a failure is the adapter's
    to diagnose, once per outage; the use case then logs one brief line per
    room. Anything else a cache raises is a surprise and keeps its traceback.
    """


class LiveStateCache(Protocol):
    """The live view of rooms; derived from the durable store, so losing it loses nothing.

    Expected outages raise :class:`LiveStateFailure`.
    """

    async def room_created(self, room_id: RoomId, view: LiveRoomView) -> None:
        """Write the whole view of a new room in one atomic step; safe to repeat."""
        ...

    async def read(self, room_id: RoomId) -> LiveRoomView | None:
        """The stored view, or None when the room has none."""
        ...

    async def apply(self, room_id: RoomId, update: LiveUpdate) -> None:
        """Bring the room's view to a committed change and publish its events, in one step.

        The view is written unless the stored one has a newer-or-equal
        version (the live view never goes back), and never again once a
        ``closed`` update removed it; the events are published in order on
        the room's channel either way. A cache that knows presence shows it
        in a view it creates from nothing (:class:`LiveUpdate`).
        """
        ...


class RoomMessage(NamedTuple):
    """One message of a room's channel, as the bus hands it to every listener of the room.

    ``text`` is the message as published, unchanged: the frame a client gets.
    The bus reads the fields a listener acts on once per message, whatever
    the number of listeners, rather than each listener parsing the same text
    again: the event's ``type``, the ``user_id`` of its payload (as the
    payload spells it) and its ``version`` (docs/protocol.md, events). A
    message that is not such an event (not JSON, or missing a field) has
    None for what it lacks, and version 0. A named tuple: immutable, as
    every listener shares it, and made at half a frozen dataclass's cost,
    once per message.
    """

    text: str
    type: str | None = None
    user_id: str | None = None
    version: int = 0


Listener = Callable[[RoomMessage], bool]
"""Takes one message of a room, without waiting; False when it refuses it.

Called by the bus's delivery task, for every room of the process: a
listener that blocked would hold back every other one. A listener that
cannot keep up is its owner's to deal with (the WebSocket server closes that
connection), not the bus's.
"""


class Subscription(Protocol):
    async def close(self) -> None:
        """Stop delivering to the listener; safe to call twice."""
        ...


class RoomEvents(Protocol):
    """Publish/subscribe on each room's event channel, across server instances."""

    async def subscribe(self, room_id: RoomId, listener: Listener) -> Subscription:
        """Deliver every message later published for the room to ``listener``, in order."""
        ...

    async def publish(self, room_id: RoomId, message: str) -> None:
        """Send a message to every listener of the room, in every process."""
        ...
