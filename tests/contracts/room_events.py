"""Contract of RoomEvents: every message published on a room reaches its listeners."""

from __future__ import annotations

import uuid

from rooms_domain import RoomEvents, RoomId
from rooms_domain.events import LeaveReason, PlayerLeft, event_message
from rooms_domain.model import UserId
from rooms_domain.ports import RoomMessage
from tests.contracts.support import eventually


class Inbox:
    """A listener that takes every message (a ``rooms_domain.Listener``)."""

    def __init__(self) -> None:
        self.received: list[RoomMessage] = []

    def __call__(self, message: RoomMessage) -> bool:
        self.received.append(message)
        return True

    @property
    def messages(self) -> list[str]:
        """The texts received, in order."""
        return [message.text for message in self.received]


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

    async def test_every_listener_gets_the_events_fields_read_once(
        self, room_events: RoomEvents
    ) -> None:
        room, user = RoomId(uuid.uuid4()), UserId(uuid.uuid4())
        first, second = Inbox(), Inbox()
        await room_events.subscribe(room, first)
        await room_events.subscribe(room, second)
        text = event_message(
            PlayerLeft(
                room_id=room, version=7, seat_index=2, user_id=user, reason=LeaveReason.KICKED
            )
        )
        await room_events.publish(room, text)
        await eventually(lambda: len(first.received) == len(second.received) == 1)
        assert first.received[0] == RoomMessage(text, "player_left", str(user), 7)
        # One reading handed to both listeners, not one per listener.
        assert first.received[0] is second.received[0]

    async def test_a_message_that_is_not_an_event_has_no_fields(
        self, room_events: RoomEvents
    ) -> None:
        room, inbox = RoomId(uuid.uuid4()), Inbox()
        await room_events.subscribe(room, inbox)
        for text in ("not json", "[1]", '{"type":"x","payload":{"version":true}}'):
            await room_events.publish(room, text)
        await eventually(lambda: len(inbox.received) == 3)
        assert inbox.received == [
            RoomMessage("not json"),
            RoomMessage("[1]"),
            RoomMessage('{"type":"x","payload":{"version":true}}', "x"),
        ]
