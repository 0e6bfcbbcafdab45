"""Local delivery of room events: each message straight to each listener of its room.

The task that reads the shared Redis connection (one per process) calls
:meth:`Fanout.deliver`, which calls every listener of the room in turn. A
listener is a plain function that must not block: the WebSocket server's one
offers the frame to its connection's outbox, the only queue on the way, and
that outbox closes its connection with 4009 when it is full (see
``docs/protocol.md``, close codes). So a slow client costs its own connection
and never holds back the reader, and following a room costs no task.

Each message is read once (:func:`read_room_message`), whatever the number
of its room's listeners: every listener gets the same
:class:`~rooms_domain.ports.RoomMessage`, its text and the fields a listener
acts on.

A listener that refuses a message (returns False: its connection is
closing) is counted in ``dropped``; one that raises is logged and counted,
and keeps its subscription.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, KeysView
from dataclasses import dataclass

import orjson

from rooms_domain.model import RoomId
from rooms_domain.ports import Listener, RoomMessage

logger = logging.getLogger(__name__)


def read_room_message(text: str) -> RoomMessage:
    """``text`` with the fields listeners act on (see RoomMessage); never raises."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return RoomMessage(text)
    if type(frame) is not dict:
        return RoomMessage(text)
    kind = frame.get("type")
    if type(kind) is not str:
        kind = None
    payload = frame.get("payload")
    if type(payload) is not dict:
        return RoomMessage(text, kind)
    user_id = payload.get("user_id")
    version = payload.get("version")
    return RoomMessage(
        text,
        kind,
        user_id if type(user_id) is str else None,
        version if type(version) is int else 0,  # not a bool, which is an int too
    )


@dataclass
class EventBusStats:
    """Cumulative counters and the connection state, for metrics."""

    delivered: int = 0  # messages a listener accepted
    dropped: int = 0  # messages a listener refused (its connection was closing)
    listener_errors: int = 0  # listener calls that raised (the listener stays)
    undecodable: int = 0  # payloads that were not UTF-8, skipped
    reconnects: int = 0  # connections re-established after one was lost
    connected: bool = False


class RoomSubscription:
    """One listener of one room. Implements ``rooms_domain.Subscription``."""

    __slots__ = ("_release", "closed", "listener", "room_id")

    def __init__(
        self,
        room_id: RoomId,
        listener: Listener,
        release: Callable[[RoomSubscription], Awaitable[None]],
    ) -> None:
        self.room_id = room_id
        self.listener = listener
        self.closed = False
        self._release = release

    async def close(self) -> None:
        """Stop delivering; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        await self._release(self)


class Fanout:
    """The local listeners of each room, by a key per room (the bus's channel name)."""

    def __init__(self, stats: EventBusStats) -> None:
        self._stats = stats
        # Dicts as ordered sets: delivery in subscription order, O(1) removal.
        self._listeners: dict[str, dict[RoomSubscription, None]] = {}

    def keys(self) -> KeysView[str]:
        """A live view of the rooms with at least one listener."""
        return self._listeners.keys()

    def __len__(self) -> int:
        return len(self._listeners)

    def add(self, key: str, subscription: RoomSubscription) -> None:
        self._listeners.setdefault(key, {})[subscription] = None

    def remove(self, key: str, subscription: RoomSubscription) -> None:
        listeners = self._listeners.get(key)
        if listeners is None:
            return
        listeners.pop(subscription, None)
        if not listeners:
            del self._listeners[key]

    def clear(self) -> list[RoomSubscription]:
        """Forget every subscription; the ones that were there."""
        subscriptions = [sub for subs in self._listeners.values() for sub in subs]
        self._listeners.clear()
        for sub in subscriptions:
            sub.closed = True
        return subscriptions

    def deliver(self, key: str, text: str) -> None:
        """Hand ``text``, read once, to every listener of the room, in subscription order.

        Never waits.
        """
        listeners = self._listeners.get(key)
        if not listeners:
            return
        message = read_room_message(text)
        # A copy: a listener may close a subscription of this very room.
        for sub in tuple(listeners):
            if sub.closed:
                continue
            try:
                accepted = sub.listener(message)
            except Exception:
                # One broken listener must not starve the others of the event.
                self._stats.listener_errors += 1
                logger.exception("room events listener failed for room %s", sub.room_id)
                continue
            if accepted:
                self._stats.delivered += 1
            else:
                self._stats.dropped += 1
