"""Local fan-out of room events: straight to each listener, in order, listeners isolated."""

from __future__ import annotations

import uuid

import pytest

from rooms_adapters import event_fanout
from rooms_adapters.event_fanout import EventBusStats, Fanout, RoomSubscription
from rooms_domain import RoomId
from rooms_domain.ports import Listener, RoomMessage
from tests.contracts.room_events import Inbox

ROOM = "room:a:events"


class Bus:
    """A fan-out with the bookkeeping a bus does on close."""

    def __init__(self) -> None:
        self.stats = EventBusStats()
        self.fanout = Fanout(self.stats)
        self.released: list[RoomSubscription] = []

    def add(self, listener: Listener, key: str = ROOM) -> RoomSubscription:
        sub = RoomSubscription(RoomId(uuid.uuid4()), listener, self._release)
        self.fanout.add(key, sub)
        return sub

    async def _release(self, sub: RoomSubscription) -> None:
        self.released.append(sub)
        self.fanout.remove(ROOM, sub)


class Refusing:
    """A listener whose connection is closing: it takes nothing."""

    def __call__(self, message: RoomMessage) -> bool:
        return False


def test_messages_reach_every_listener_in_order_and_only_their_rooms() -> None:
    bus = Bus()
    first, second, elsewhere = Inbox(), Inbox(), Inbox()
    bus.add(first)
    bus.add(second)
    bus.add(elsewhere, key="room:b:events")
    for i in range(20):
        bus.fanout.deliver(ROOM, f"m{i}")
    sent = [f"m{i}" for i in range(20)]
    assert first.messages == second.messages == sent
    assert elsewhere.messages == []
    assert bus.stats.delivered == 40


def test_a_refused_message_is_counted_as_dropped_and_the_others_still_get_it() -> None:
    bus = Bus()
    inbox = Inbox()
    bus.add(Refusing())
    bus.add(inbox)
    bus.fanout.deliver(ROOM, "m")
    assert inbox.messages == ["m"]
    assert (bus.stats.delivered, bus.stats.dropped) == (1, 1)


def test_a_failing_listener_keeps_its_subscription_and_starves_no_one() -> None:
    bus = Bus()
    received: list[str] = []
    inbox = Inbox()

    def flaky(message: RoomMessage) -> bool:
        received.append(message.text)
        if message.text == "bad":
            raise RuntimeError("listener bug")
        return True

    bus.add(flaky)
    bus.add(inbox)
    for message in ("bad", "good"):
        bus.fanout.deliver(ROOM, message)
    assert received == inbox.messages == ["bad", "good"]
    assert (bus.stats.listener_errors, bus.stats.delivered) == (1, 3)


async def test_close_stops_delivery_is_safe_twice_and_forgets_an_empty_room() -> None:
    bus = Bus()
    gone, staying = Inbox(), Inbox()
    sub = bus.add(gone)
    other = bus.add(staying)
    await sub.close()
    await sub.close()
    assert bus.released == [sub]
    bus.fanout.deliver(ROOM, "after")
    assert (gone.messages, staying.messages) == ([], ["after"])
    await other.close()
    assert len(bus.fanout) == 0 and ROOM not in bus.fanout.keys()  # noqa: SIM118  # the view the bus reads


def test_a_message_is_read_once_whatever_the_number_of_listeners(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[str] = []
    read = event_fanout.read_room_message

    def counted(text: str) -> RoomMessage:
        reads.append(text)
        return read(text)

    monkeypatch.setattr(event_fanout, "read_room_message", counted)
    bus = Bus()
    inboxes = [Inbox() for _ in range(5)]
    for inbox in inboxes:
        bus.add(inbox)
    text = '{"type":"room_closed","request_id":null,"payload":{"room_id":"r","version":9}}'
    bus.fanout.deliver(ROOM, text)
    bus.fanout.deliver("room:nobody:events", text)  # no listener: nothing to read
    assert reads == [text]
    expected = RoomMessage(text, "room_closed", None, 9)
    assert all(inbox.received == [expected] for inbox in inboxes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"type":"player_left","payload":{"version":3,"user_id":"u","seat_index":1}}',
            ("player_left", "u", 3),
        ),
        ('{"type":"game_started","payload":{"version":4}}', ("game_started", None, 4)),
        ('{"type":"e","payload":{"version":"4","user_id":5}}', ("e", None, 0)),
        ('{"type":1,"payload":[]}', (None, None, 0)),
        ("m0", (None, None, 0)),
        ("", (None, None, 0)),
    ],
)
def test_reading_a_message_takes_only_well_typed_fields(
    text: str, expected: tuple[str | None, str | None, int]
) -> None:
    message = event_fanout.read_room_message(text)
    assert (message.text, message.type, message.user_id, message.version) == (text, *expected)
