"""Local fan-out of room events: order, isolation of listeners, the slow-listener policy."""

from __future__ import annotations

import asyncio
import uuid

from rooms_adapters.event_fanout import EventBusStats, RoomSubscription
from rooms_domain import RoomId
from tests.contracts.room_events import Inbox
from tests.contracts.support import eventually


class Registry:
    """Stands in for the bus: records which subscriptions left, and how."""

    def __init__(self) -> None:
        self.released: list[RoomSubscription] = []
        self.detached: list[RoomSubscription] = []

    async def release(self, sub: RoomSubscription) -> None:
        self.released.append(sub)

    def detach(self, sub: RoomSubscription) -> None:
        self.detached.append(sub)


def subscription(
    listener: Inbox | Blocked,
    registry: Registry,
    stats: EventBusStats,
    *,
    queue_size: int = 4,
    overflows: list[RoomId] | None = None,
) -> RoomSubscription:
    room = RoomId(uuid.uuid4())

    def on_overflow() -> None:
        if overflows is not None:
            overflows.append(room)

    return RoomSubscription(
        room,
        listener,
        queue_size=queue_size,
        stats=stats,
        release=registry.release,
        detach=registry.detach,
        on_overflow=on_overflow,
    )


class Blocked:
    """A listener stuck on its first message, as a client that stopped reading."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.messages: list[str] = []

    async def __call__(self, message: str) -> None:
        self.messages.append(message)
        self.started.set()
        await asyncio.Event().wait()


async def test_messages_reach_the_listener_in_order() -> None:
    stats, registry, inbox = EventBusStats(), Registry(), Inbox()
    sub = subscription(inbox, registry, stats, queue_size=100)
    for i in range(20):
        sub.offer(f"m{i}")
    await eventually(lambda: len(inbox.messages) == 20)
    assert inbox.messages == [f"m{i}" for i in range(20)]
    assert stats.delivered == 20
    await sub.close()


async def test_a_listener_that_falls_behind_is_disconnected_and_told() -> None:
    stats, registry, blocked = EventBusStats(), Registry(), Blocked()
    overflows: list[RoomId] = []
    sub = subscription(blocked, registry, stats, queue_size=4, overflows=overflows)
    sub.offer("first")
    await blocked.started.wait()
    for i in range(4):
        sub.offer(f"queued{i}")
    assert not sub.closed
    sub.offer("one too many")
    assert sub.closed and sub.overflowed
    assert overflows == [sub.room_id]
    assert registry.detached == [sub]
    assert (stats.slow_listeners, stats.dropped) == (1, 5)
    sub.offer("after")  # ignored, not counted
    assert stats.dropped == 5
    await sub.wait_stopped()
    assert blocked.messages == ["first"]


async def test_a_failing_listener_keeps_receiving() -> None:
    stats, registry = EventBusStats(), Registry()
    received: list[str] = []

    async def flaky(message: str) -> None:
        received.append(message)
        if message == "bad":
            raise RuntimeError("listener bug")

    sub = RoomSubscription(
        RoomId(uuid.uuid4()),
        flaky,
        queue_size=4,
        stats=stats,
        release=registry.release,
        detach=registry.detach,
    )
    for message in ("bad", "good"):
        sub.offer(message)
    await eventually(lambda: received == ["bad", "good"])
    assert (stats.listener_errors, stats.delivered) == (1, 1)
    await sub.close()


async def test_close_discards_what_is_queued_and_is_safe_twice() -> None:
    stats, registry, blocked = EventBusStats(), Registry(), Blocked()
    sub = subscription(blocked, registry, stats)
    sub.offer("first")
    sub.offer("queued")
    await blocked.started.wait()
    await sub.close()
    await sub.close()
    await sub.wait_stopped()
    assert registry.released == [sub]
    assert blocked.messages == ["first"]


async def test_a_listener_may_close_its_own_subscription() -> None:
    stats, registry = EventBusStats(), Registry()
    received: list[str] = []
    holder: list[RoomSubscription] = []

    async def closes_itself(message: str) -> None:
        received.append(message)
        await holder[0].close()

    sub = RoomSubscription(
        RoomId(uuid.uuid4()),
        closes_itself,
        queue_size=4,
        stats=stats,
        release=registry.release,
        detach=registry.detach,
    )
    holder.append(sub)
    sub.offer("only")
    sub.offer("never")
    await sub.wait_stopped()
    assert received == ["only"]
    assert registry.released == [sub]
