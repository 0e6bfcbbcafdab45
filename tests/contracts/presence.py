"""Contract of Presence (``rooms_domain.presence``), on a live view it flips.

Times are given, not waited for: the adapter's presence timeout is
``TIMEOUT_S``, so an instance silent for more than two thirds of it is dead.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable

from rooms_domain import LiveRoomView, LiveStateCache, LiveUpdate, Room, RoomEvents, RoomId, UserId
from rooms_domain.presence import HeldSeat, Presence
from tests.contracts.room_events import Inbox
from tests.contracts.support import eventually, new_room, random_code

TIMEOUT_S = 3.0
T0 = 1_764_000_000_000
DEAD = 2_001  # ms of silence after which an instance of TIMEOUT_S is dead


async def a_room(live_state: LiveStateCache) -> tuple[RoomId, UserId, UserId]:
    """A room whose live view seats its host (seat 0) and a guest (seat 1), both connected."""
    host, guest = UserId(uuid.uuid4()), UserId(uuid.uuid4())
    room = new_room(host, random_code())
    joined = room.join(guest).room
    view = LiveRoomView.of(joined, {host: "Ann", guest: "Bob"}, now_ms=T0)
    await live_state.room_created(room.room_id, view)
    return room.room_id, host, guest


async def seat(live_state: LiveStateCache, room_id: RoomId, index: int) -> dict[str, object]:
    view = await live_state.read(room_id)
    assert view is not None
    parsed: dict[str, object] = json.loads(view.seats[f"seat:{index}"])
    return parsed


async def a_followed_room(
    live_state: LiveStateCache, room_events: RoomEvents
) -> tuple[RoomId, UserId, UserId, Inbox]:
    """``a_room``, and an inbox that hears its events."""
    room_id, host, guest = await a_room(live_state)
    inbox = Inbox()
    await room_events.subscribe(room_id, inbox)
    return room_id, host, guest, inbox


async def connect_on(
    presence: Presence, room_id: RoomId, user: UserId, beats: dict[str, int]
) -> None:
    """Each instance beats at its time, then ``user`` connects on every one at ``T0``."""
    for instance, at_ms in beats.items():
        await presence.beat(instance, at_ms)
    for instance in beats:
        await presence.connect(room_id, user, instance, T0)


async def an_instance_seating_both(
    presence: Presence, room_id: RoomId, host: UserId, guest: UserId, prefix: str
) -> str:
    """A new instance ``prefix-…``, beating at ``T0``; guest, then host, connect on it."""
    instance = f"{prefix}-{uuid.uuid4().hex[:6]}"
    await presence.beat(instance, T0)
    await presence.connect(room_id, guest, instance, T0)
    await presence.connect(room_id, host, instance, T0)
    return instance


async def forget_all(presence: Presence, room_id: RoomId, *users: UserId) -> None:
    """Drop what presence keeps of each user, in order (a test's clean-up)."""
    for user in users:
        await presence.forget(room_id, user)


def frames(inbox: Inbox) -> list[dict[str, object]]:
    return [json.loads(message) for message in inbox.messages]


LoseView = Callable[[RoomId], Awaitable[None]]


def a_room_of_three() -> tuple[Room, dict[UserId, str]]:
    """A room (no view written) seating Ann (host, seat 0), Bob (1) and Cy (2)."""
    ann, bob, cy = (UserId(uuid.uuid4()) for _ in range(3))
    room = new_room(ann, random_code()).join(bob).room.join(cy).room
    return room, {ann: "Ann", bob: "Bob", cy: "Cy"}


def gone_frame(room: Room, index: int) -> dict[str, object]:
    user = room.seats[index].user_id
    payload = {"room_id": str(room.room_id), "version": room.version, "seat_index": index,
               "user_id": str(user)}  # fmt: skip
    return {"type": "player_disconnected", "request_id": None, "payload": payload}


class PresenceContract:
    """Needs the fixtures ``presence`` (timeout ``TIMEOUT_S``, over ``live_state``
    and publishing on ``room_events``), ``live_state`` (publishing there too, and
    knowing ``presence`` for a view it creates from nothing), ``room_events`` and
    ``lose_view`` (a room's view gone, as when Redis loses its data)."""

    async def test_a_view_created_from_nothing_shows_presence_and_holds_the_others(
        self, presence: Presence, live_state: LiveStateCache, room_events: RoomEvents
    ) -> None:
        room, names = a_room_of_three()
        ann, bob, cy = (s.user_id for s in room.seats[:3])
        assert ann is not None and bob is not None and cy is not None
        inbox = Inbox()
        await room_events.subscribe(room.room_id, inbox)
        await presence.beat("a", T0)
        await presence.beat("dead", T0 - DEAD)
        assert await presence.connect(room.room_id, ann, "a", T0) is False  # no view yet
        await presence.connect(room.room_id, cy, "dead", T0 - DEAD)
        await live_state.apply(room.room_id, LiveUpdate.of(room, names, (), T0 + 1))
        assert [(await seat(live_state, room.room_id, i))["connected"] for i in range(3)] == [
            True, False, False
        ]  # fmt: skip
        held = [HeldSeat(room.room_id, bob, T0 + 1), HeldSeat(room.room_id, cy, T0 + 1)]
        assert sorted(await presence.held(T0 + 1, 10), key=lambda h: h.user_id == cy) == held
        await eventually(lambda: frames(inbox) == [gone_frame(room, 1), gone_frame(room, 2)])
        # Bob comes back: as after any disconnect.
        assert await presence.connect(room.room_id, bob, "a", T0 + 2) is True
        assert not await presence.is_held(room.room_id, bob)
        await presence.disconnect(room.room_id, bob, "a", T0 + 3)
        for user in (ann, bob, cy):
            await presence.forget(room.room_id, user)
        await presence.expire_instances(T0 + 10 * DEAD, 10)

    async def test_the_present_users_are_connected_in_a_view_created_from_nothing(
        self, presence: Presence, live_state: LiveStateCache
    ) -> None:
        room, names = a_room_of_three()
        ann, bob, cy = (s.user_id for s in room.seats[:3])
        assert ann is not None and bob is not None and cy is not None
        update = LiveUpdate.of(room, names, (), T0, present=frozenset({bob}))
        await live_state.apply(room.room_id, update)
        assert (await seat(live_state, room.room_id, 1))["connected"] is True
        assert not await presence.is_held(room.room_id, bob)
        assert await presence.is_held(room.room_id, ann)
        for user in (ann, cy):
            await presence.forget(room.room_id, user)

    async def test_a_view_written_over_a_stored_one_keeps_connected_and_holds_no_one(
        self, presence: Presence, live_state: LiveStateCache
    ) -> None:
        room, names = a_room_of_three()
        view = LiveRoomView.of(room, names, now_ms=T0)
        await live_state.room_created(room.room_id, view)
        # Nobody in presence, yet the stored view's `connected` is the truth here.
        newer = dataclasses.replace(room, version=room.version + 1)
        await live_state.apply(room.room_id, LiveUpdate.of(newer, names, (), T0 + 1))
        for i in range(3):
            assert (await seat(live_state, room.room_id, i))["connected"] is True
            user = room.seats[i].user_id
            assert user is not None and not await presence.is_held(room.room_id, user)

    async def test_a_seat_held_before_the_view_was_lost_keeps_its_time(
        self,
        presence: Presence,
        live_state: LiveStateCache,
        room_events: RoomEvents,
        lose_view: LoseView,
    ) -> None:
        room_id, host, guest, inbox = await a_followed_room(live_state, room_events)
        await presence.beat("a", T0)
        for user in (host, guest):
            await presence.connect(room_id, user, "a", T0)
        await presence.disconnect(room_id, guest, "a", T0 + 5)
        view = await live_state.read(room_id)
        assert view is not None
        await lose_view(room_id)
        await live_state.apply(room_id, _rebuild(view, T0 + 10))
        assert [(await seat(live_state, room_id, i))["connected"] for i in (0, 1)] == [True, False]
        assert await presence.held(T0 + 10, 10) == [HeldSeat(room_id, guest, T0 + 5)]
        # One player_disconnected: the first one's (none again from the rebuild).
        await eventually(lambda: len(inbox.messages) == 1)
        assert [f["type"] for f in frames(inbox)] == ["player_disconnected"]
        await presence.disconnect(room_id, host, "a", T0 + 11)
        await forget_all(presence, room_id, host, guest)

    async def test_the_last_socket_gone_disconnects_and_holds_the_seat(
        self, presence: Presence, live_state: LiveStateCache, room_events: RoomEvents
    ) -> None:
        room_id, _, guest, inbox = await a_followed_room(live_state, room_events)
        assert await presence.beat("a", T0) is False  # new
        assert await presence.connect(room_id, guest, "a", T0) is False  # was connected
        before = await seat(live_state, room_id, 1)
        assert await presence.disconnect(room_id, guest, "a", T0 + 5) is True
        after = await seat(live_state, room_id, 1)
        assert after == {**before, "connected": False}
        assert await presence.is_held(room_id, guest)
        assert await presence.held(T0 + 5, 10) == [HeldSeat(room_id, guest, T0 + 5)]
        expected = {
            "type": "player_disconnected",
            "request_id": None,
            "payload": {"room_id": str(room_id), "version": 1, "seat_index": 1,
                        "user_id": str(guest)},
        }  # fmt: skip
        await eventually(lambda: frames(inbox) == [expected])
        await presence.forget(room_id, guest)

    async def test_coming_back_reconnects_once(
        self, presence: Presence, live_state: LiveStateCache, room_events: RoomEvents
    ) -> None:
        room_id, host, _, inbox = await a_followed_room(live_state, room_events)
        await presence.beat("a", T0)
        await presence.connect(room_id, host, "a", T0)
        await presence.disconnect(room_id, host, "a", T0 + 1)
        assert await presence.connect(room_id, host, "b", T0 + 2) is True
        assert await presence.connect(room_id, host, "a", T0 + 3) is False
        assert (await seat(live_state, room_id, 0))["connected"] is True
        assert not await presence.is_held(room_id, host)
        await eventually(lambda: len(inbox.messages) == 2)
        assert [f["type"] for f in frames(inbox)] == ["player_disconnected", "player_reconnected"]
        assert frames(inbox)[1]["payload"] == {
            "room_id": str(room_id), "version": 1, "seat_index": 0, "user_id": str(host)
        }  # fmt: skip
        await presence.disconnect(room_id, host, "b", T0 + 4)
        await presence.disconnect(room_id, host, "a", T0 + 4)
        await presence.forget(room_id, host)

    async def test_a_socket_on_another_live_instance_keeps_the_user_connected(
        self, presence: Presence, live_state: LiveStateCache
    ) -> None:
        room_id, _, guest = await a_room(live_state)
        await connect_on(presence, room_id, guest, {"a": T0, "b": T0})
        assert await presence.disconnect(room_id, guest, "a", T0 + 1) is False
        assert (await seat(live_state, room_id, 1))["connected"] is True
        assert not await presence.is_held(room_id, guest)
        assert await presence.disconnect(room_id, guest, "b", T0 + 2) is True
        await presence.forget(room_id, guest)

    async def test_a_dead_instance_does_not_keep_anyone_connected(
        self, presence: Presence, live_state: LiveStateCache
    ) -> None:
        room_id, _, guest = await a_room(live_state)
        await connect_on(presence, room_id, guest, {"dead": T0, "b": T0 + DEAD})
        assert await presence.disconnect(room_id, guest, "b", T0 + DEAD) is True
        await presence.forget(room_id, guest)
        assert await presence.expire_instances(T0 + DEAD, 100) >= 1

    async def test_a_dead_instances_users_are_disconnected_by_whoever_checks(
        self, presence: Presence, live_state: LiveStateCache, room_events: RoomEvents
    ) -> None:
        room_id, host, guest, inbox = await a_followed_room(live_state, room_events)
        dead = await an_instance_seating_both(presence, room_id, host, guest, "dead")
        await presence.beat("b", T0 + DEAD)
        # Not yet dead: nothing dropped.
        assert await presence.expire_instances(T0 + DEAD - 2, 100) == 0
        assert (await seat(live_state, room_id, 1))["connected"] is True
        # Two checks of one batch each: each entry dropped once.
        assert await presence.expire_instances(T0 + DEAD, 1) == 1
        assert await presence.expire_instances(T0 + DEAD, 1) == 1
        assert await presence.expire_instances(T0 + DEAD, 1) == 0
        assert (await seat(live_state, room_id, 0))["connected"] is False
        assert (await seat(live_state, room_id, 1))["connected"] is False
        held = await presence.held(T0 + DEAD, 10)
        assert {(h.room_id, h.user_id) for h in held} >= {(room_id, host), (room_id, guest)}
        await eventually(lambda: len(inbox.messages) == 2)
        assert {f["type"] for f in frames(inbox)} == {"player_disconnected"}
        # The dead instance beats again (it was only frozen): told so, it re-announces.
        assert await presence.beat(dead, T0 + DEAD + 10) is False
        await forget_all(presence, room_id, host, guest)

    async def test_an_instance_that_lost_entries_is_told_so_whatever_its_clock_says(
        self, presence: Presence, live_state: LiveStateCache
    ) -> None:
        room_id, host, guest = await a_room(live_state)
        frozen = await an_instance_seating_both(presence, room_id, host, guest, "frozen")
        # Another instance, by its clock, finds it dead and drops an entry; its
        # own beat comes with an earlier time (taken before the drop, sent
        # after): on time by its clock, yet it must announce again.
        assert await presence.expire_instances(T0 + DEAD, 1) == 1
        assert await presence.beat(frozen, T0 + DEAD - 5) is False
        assert await presence.beat(frozen, T0 + DEAD) is True  # told once
        await presence.retire(frozen, T0 + DEAD)
        await forget_all(presence, room_id, host, guest)

    async def test_a_user_who_is_not_seated_is_not_held(
        self, presence: Presence, live_state: LiveStateCache
    ) -> None:
        room_id, _, _ = await a_room(live_state)
        stranger = UserId(uuid.uuid4())
        await presence.beat("a", T0)
        assert await presence.connect(room_id, stranger, "a", T0) is False
        assert await presence.disconnect(room_id, stranger, "a", T0 + 1) is False
        assert not await presence.is_held(room_id, stranger)

    async def test_held_seats_in_order_up_to_a_limit_postponed_and_forgotten(
        self, presence: Presence, live_state: LiveStateCache
    ) -> None:
        room_id, host, guest = await a_room(live_state)
        await presence.beat("a", T0)
        for user in (host, guest):
            await presence.connect(room_id, user, "a", T0)
        counted = await presence.held_count()
        await presence.disconnect(room_id, guest, "a", T0 + 10)
        await presence.disconnect(room_id, host, "a", T0 + 20)
        assert await presence.held_count() == counted + 2
        assert await presence.held(T0 + 9, 10) == []
        assert await presence.held(T0 + 20, 1) == [HeldSeat(room_id, guest, T0 + 10)]
        assert await presence.held_since_ms(room_id, guest) == T0 + 10
        await presence.postpone(room_id, guest, T0 + 30)
        assert await presence.held_since_ms(room_id, guest) == T0 + 30
        assert await presence.held(T0 + 20, 10) == [HeldSeat(room_id, host, T0 + 20)]
        # A second disconnect (another instance) keeps the first time.
        await presence.disconnect(room_id, host, "a", T0 + 25)
        assert await presence.held(T0 + 20, 10) == [HeldSeat(room_id, host, T0 + 20)]
        await forget_all(presence, room_id, host, guest)
        assert await presence.held_count() == counted
        # Postponing a seat that is not held does not hold it.
        await presence.postpone(room_id, host, T0 + 40)
        assert not await presence.is_held(room_id, host)
        assert await presence.held_since_ms(room_id, host) is None

    async def test_beat_says_whether_the_instance_was_alive(self, presence: Presence) -> None:
        name = f"i-{uuid.uuid4().hex[:6]}"
        assert await presence.beat(name, T0) is False
        assert await presence.beat(name, T0 + 1000) is True
        assert await presence.beat(name, T0 + 1000 + DEAD) is False
        await presence.expire_instances(T0 + 10 * DEAD, 10)

    async def test_a_retired_instance_disconnects_its_users_and_is_forgotten(
        self, presence: Presence, live_state: LiveStateCache
    ) -> None:
        room_id, _, guest = await a_room(live_state)
        name = f"i-{uuid.uuid4().hex[:6]}"
        await presence.beat(name, T0)
        await presence.connect(room_id, guest, name, T0)
        await presence.retire(name, T0 + 1)
        assert (await seat(live_state, room_id, 1))["connected"] is False
        assert await presence.held(T0 + 1, 10) == [HeldSeat(room_id, guest, T0 + 1)]
        assert await presence.beat(name, T0 + 2) is False  # forgotten: as new
        await presence.retire(name, T0 + 3)
        await presence.forget(room_id, guest)


def _rebuild(view: LiveRoomView, at_ms: int) -> LiveUpdate:
    """An update writing ``view`` again as a rebuild would (every seat connected)."""
    seats = {
        name: text.replace('"connected":false', '"connected":true')
        for name, text in view.seats.items()
    }
    return LiveUpdate(LiveRoomView(view.meta, seats), at_ms=at_ms)
