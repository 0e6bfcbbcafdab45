"""Contract of RoomEvents: every message published on a room reaches its listeners."""

from __future__ import annotations

import uuid

from rooms_domain import RoomEvents, RoomId
from tests.contracts.support import eventually


class Inbox:
    """A listener that takes every message (a ``rooms_domain.Listener``)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: str) -> bool:
        self.messages.append(message)
        return True


class RoomEventsContract:
    """Needs the fixture ``room_events`` (RoomEvents)."""

    async def test_a_published_message_reaches_every_listener_unchanged(
        self, room_events: RoomEvents
    ) -> None:
        room = RoomId(uuid.uuid4())
        first, second = Inbox(), Inbox()
        await room_events.subscribe(room, first)
        await room_events.subscribe(room, second)
        message = '{"type":"seat_taken","payload":{"seat":1,"name":"Zoë"}}'
        await room_events.publish(room, message)
        await eventually(lambda: first.messages == [message] and second.messages == [message])

    async def test_messages_arrive_in_order(self, room_events: RoomEvents) -> None:
        room, inbox = RoomId(uuid.uuid4()), Inbox()
        await room_events.subscribe(room, inbox)
        sent = [f"m{i}" for i in range(50)]
        for message in sent:
            await room_events.publish(room, message)
        await eventually(lambda: len(inbox.messages) == len(sent))
        assert inbox.messages == sent

    async def test_other_rooms_messages_do_not_arrive(self, room_events: RoomEvents) -> None:
        mine, other, inbox = RoomId(uuid.uuid4()), RoomId(uuid.uuid4()), Inbox()
        await room_events.subscribe(mine, inbox)
        await room_events.publish(other, "not for you")
        await room_events.publish(mine, "for you")
        await eventually(lambda: inbox.messages == ["for you"])

    async def test_the_same_listener_twice_gets_each_message_twice_until_one_closes(
        self, room_events: RoomEvents
    ) -> None:
        # One connection may follow a room once, but the bus must not merge
        # two subscriptions because their listeners compare equal.
        room, inbox = RoomId(uuid.uuid4()), Inbox()
        first = await room_events.subscribe(room, inbox)
        await room_events.subscribe(room, inbox)
        await room_events.publish(room, "twice")
        await eventually(lambda: inbox.messages == ["twice", "twice"])
        await first.close()
        await room_events.publish(room, "once")
        await eventually(lambda: inbox.messages == ["twice", "twice", "once"])

    async def test_a_closed_subscription_receives_nothing_more(
        self, room_events: RoomEvents
    ) -> None:
        room, gone, staying = RoomId(uuid.uuid4()), Inbox(), Inbox()
        subscription = await room_events.subscribe(room, gone)
        await room_events.subscribe(room, staying)
        await subscription.close()
        await subscription.close()
        await room_events.publish(room, "after close")
        await eventually(lambda: staying.messages == ["after close"])
        assert gone.messages == []
