"""Contract of LiveStateCache."""

from __future__ import annotations

import json
import random
import uuid

from rooms_domain import LiveRoomView, LiveStateCache, LiveUpdate, RoomEvents, RoomId, UserId
from rooms_domain.events import event_message
from rooms_domain.lobby_rules import Change
from tests.contracts.room_events import Inbox
from tests.contracts.support import eventually, new_room, random_code

# Contract §4, spelled out independently of the code that writes them.
META_FIELDS = frozenset(
    {
        "status",
        "visibility",
        "owner_user_id",
        "code",
        "max_players",
        "ruleset_id",
        "ruleset_config",
        "created_at_ms",
        "version",
    }
)
SEAT_FIELDS = frozenset(
    {"user_id", "display_name", "ready", "connected", "is_host", "joined_at_ms"}
)


def a_view(max_players: int = 4) -> tuple[RoomId, LiveRoomView]:
    room = new_room(
        UserId(uuid.uuid4()),
        random_code(),
        max_players=max_players,
        config={"deck": "short", "ñ": [1, 2]},
    )
    view = LiveRoomView.of_new_room(room, host_display_name="Ann", created_at_ms=1_764_000_000_123)
    return room.room_id, view


class LiveStateCacheContract:
    """Needs the fixture ``live_state`` (a healthy LiveStateCache)."""

    async def test_a_written_view_reads_back_exactly(self, live_state: LiveStateCache) -> None:
        room_id, view = a_view(max_players=2)
        await live_state.room_created(room_id, view)
        assert await live_state.read(room_id) == view

    async def test_writing_the_same_view_twice_is_harmless(
        self, live_state: LiveStateCache
    ) -> None:
        room_id, view = a_view()
        await live_state.room_created(room_id, view)
        await live_state.room_created(room_id, view)
        assert await live_state.read(room_id) == view

    async def test_an_unknown_room_has_no_view(self, live_state: LiveStateCache) -> None:
        assert await live_state.read(RoomId(uuid.uuid4())) is None

    async def test_views_of_rooms_are_kept_apart(self, live_state: LiveStateCache) -> None:
        (first_id, first), (second_id, second) = a_view(2), a_view(3)
        await live_state.room_created(first_id, first)
        await live_state.room_created(second_id, second)
        assert await live_state.read(first_id) == first
        assert await live_state.read(second_id) == second


# --- apply: the step after a committed change --------------------------------

T0, T1, T2, T3 = 1_764_000_000_123, 1_764_000_001_000, 1_764_000_002_000, 1_764_000_003_000


class Lobby:
    """A room and the display names of everyone who ever sat in it."""

    def __init__(self) -> None:
        self.host = UserId(uuid.uuid4())
        self.room = new_room(self.host, random_code(), config={"deck": "short"})
        self.names: dict[UserId, str] = {self.host: "Ann"}

    @property
    def room_id(self) -> RoomId:
        return self.room.room_id

    def created(self, at_ms: int = T0) -> LiveRoomView:
        return LiveRoomView.of_new_room(self.room, host_display_name="Ann", created_at_ms=at_ms)

    def join(self, name: str, at_ms: int) -> tuple[UserId, LiveUpdate]:
        user = UserId(uuid.uuid4())
        self.names[user] = name
        return user, self._step(self.room.join(user, name), at_ms)

    def leave(self, user: UserId, at_ms: int) -> LiveUpdate:
        return self._step(self.room.leave(user), at_ms)

    def ready(self, user: UserId, at_ms: int) -> LiveUpdate:
        return self._step(self.room.set_ready(user, True), at_ms)

    def rebuild(self, at_ms: int) -> LiveUpdate:
        return LiveUpdate.of(self.room, self.names, (), at_ms)

    def _step(self, change: Change, at_ms: int) -> LiveUpdate:
        self.room = change.room
        return LiveUpdate.of(change.room, self.names, change.events, at_ms)


def seat(view: LiveRoomView | None, index: int) -> dict[str, object]:
    assert view is not None
    parsed: dict[str, object] = json.loads(view.seats[f"seat:{index}"])
    return parsed


def messages(update: LiveUpdate) -> list[str]:
    return [event_message(event) for event in update.events]


class LiveUpdateContract:
    """Needs ``live_state`` and ``room_events`` on the same server: what one publishes, the
    other delivers."""

    async def following(self, room_events: RoomEvents, room_id: RoomId) -> Inbox:
        inbox = Inbox()
        await room_events.subscribe(room_id, inbox)
        return inbox

    async def test_an_update_with_no_view_stored_writes_the_whole_view(
        self, live_state: LiveStateCache
    ) -> None:
        lobby = Lobby()
        lobby.join("Bob", T1)
        rebuild = lobby.rebuild(T2)
        assert rebuild.events == () and not rebuild.closed
        await live_state.apply(lobby.room_id, rebuild)
        assert await live_state.read(lobby.room_id) == rebuild.view
        assert seat(rebuild.view, 1)["joined_at_ms"] == T2

    async def test_a_newer_update_keeps_when_each_occupant_arrived(
        self, live_state: LiveStateCache
    ) -> None:
        lobby = Lobby()
        await live_state.room_created(lobby.room_id, lobby.created(T0))
        bob, joined = lobby.join("Bob", T1)
        await live_state.apply(lobby.room_id, joined)
        readied = lobby.ready(bob, T2)
        await live_state.apply(lobby.room_id, readied)

        view = await live_state.read(lobby.room_id)
        assert view is not None
        assert view.meta["version"] == "2" and view.meta["created_at_ms"] == str(T0)
        assert seat(view, 0) == {
            "user_id": str(lobby.host),
            "display_name": "Ann",
            "ready": "not_ready",
            "connected": True,
            "is_host": True,
            "joined_at_ms": T0,
        }
        assert seat(view, 1) == {
            "user_id": str(bob),
            "display_name": "Bob",
            "ready": "ready",
            "connected": True,
            "is_host": False,
            "joined_at_ms": T1,
        }
        assert view.seats["seat:2"] == view.seats["seat:3"] == "{}"
        assert set(view.meta) == META_FIELDS

    async def test_a_seat_keeps_connected_for_its_occupant_and_not_for_the_next(
        self, live_state: LiveStateCache
    ) -> None:
        lobby = Lobby()
        bob, _ = lobby.join("Bob", T1)
        stored = lobby.rebuild(T1).view
        # Presence marks both away (written here by hand: no port does it yet).
        away = {
            name: text.replace('"connected":true', '"connected":false')
            for name, text in stored.seats.items()
        }
        await live_state.room_created(lobby.room_id, LiveRoomView(stored.meta, away))
        lobby.leave(bob, T2)
        cat, joined = lobby.join("Cat", T3)
        await live_state.apply(lobby.room_id, joined)

        view = await live_state.read(lobby.room_id)
        assert (seat(view, 0)["connected"], seat(view, 0)["joined_at_ms"]) == (False, T1)
        assert seat(view, 1)["user_id"] == str(cat)
        assert (seat(view, 1)["connected"], seat(view, 1)["joined_at_ms"]) == (True, T3)

    async def test_an_older_update_landing_late_is_published_but_not_written(
        self, live_state: LiveStateCache, room_events: RoomEvents
    ) -> None:
        lobby = Lobby()
        inbox = await self.following(room_events, lobby.room_id)
        bob, _ = lobby.join("Bob", T1)
        v2 = lobby.ready(bob, T2)
        v3 = lobby.ready(lobby.host, T3)
        await live_state.apply(lobby.room_id, v3)
        await live_state.apply(lobby.room_id, v2)

        assert await live_state.read(lobby.room_id) == v3.view
        sent = messages(v3) + messages(v2)
        await eventually(lambda: len(inbox.messages) >= len(sent))
        assert inbox.messages == sent

    async def test_an_update_of_the_stored_version_is_not_written_again(
        self, live_state: LiveStateCache
    ) -> None:
        lobby = Lobby()
        _, joined = lobby.join("Bob", T1)
        await live_state.apply(lobby.room_id, joined)
        lobby.names[lobby.host] = "Renamed"
        await live_state.apply(lobby.room_id, lobby.rebuild(T2))
        assert await live_state.read(lobby.room_id) == joined.view

    async def test_events_are_published_in_order_in_the_server_envelope(
        self, live_state: LiveStateCache, room_events: RoomEvents
    ) -> None:
        lobby = Lobby()
        inbox = await self.following(room_events, lobby.room_id)
        bob, _ = lobby.join("Bob", T1)
        left = lobby.leave(lobby.host, T2)
        await live_state.apply(lobby.room_id, left)

        await eventually(lambda: len(inbox.messages) >= 2)
        frames = [json.loads(message) for message in inbox.messages]
        # The envelope, spelled out independently of the code that writes it.
        assert [list(frame) for frame in frames] == [["type", "request_id", "payload"]] * 2
        room_id = str(lobby.room_id)
        assert frames == [
            {
                "type": "player_left",
                "request_id": None,
                "payload": {
                    "room_id": room_id,
                    "version": 2,
                    "seat_index": 0,
                    "user_id": str(lobby.host),
                    "reason": "left",
                },
            },
            {
                "type": "host_changed",
                "request_id": None,
                "payload": {"room_id": room_id, "version": 2, "seat_index": 1, "user_id": str(bob)},
            },
        ]

    async def test_closing_removes_the_view_and_no_older_update_writes_it_again(
        self, live_state: LiveStateCache, room_events: RoomEvents
    ) -> None:
        lobby = Lobby()
        inbox = await self.following(room_events, lobby.room_id)
        await live_state.room_created(lobby.room_id, lobby.created(T0))
        bob, v1 = lobby.join("Bob", T1)
        v2 = lobby.leave(lobby.host, T2)
        v3 = lobby.leave(bob, T3)
        assert v3.closed and [e.type for e in v3.events] == ["player_left", "room_closed"]

        await live_state.apply(lobby.room_id, v1)
        await live_state.apply(lobby.room_id, v3)
        assert await live_state.read(lobby.room_id) is None
        # Late ones, from another instance or a repair that read before the close.
        await live_state.apply(lobby.room_id, v2)
        await live_state.apply(lobby.room_id, v1)
        assert await live_state.read(lobby.room_id) is None

        sent = messages(v1) + messages(v3) + messages(v2) + messages(v1)
        await eventually(lambda: len(inbox.messages) >= len(sent))
        assert inbox.messages == sent
        assert await live_state.read(lobby.room_id) is None

    async def test_a_close_that_lands_first_still_wins(self, live_state: LiveStateCache) -> None:
        lobby = Lobby()
        v0 = lobby.rebuild(T0)
        v1 = lobby.leave(lobby.host, T1)
        assert v1.closed
        await live_state.apply(lobby.room_id, v1)
        await live_state.apply(lobby.room_id, v0)
        assert await live_state.read(lobby.room_id) is None

    async def test_in_whatever_order_updates_land_the_newest_view_stays(
        self, live_state: LiveStateCache
    ) -> None:
        lobby = Lobby()
        bob, v1 = lobby.join("Bob", T1)
        _, v2 = lobby.join("Cat", T1 + 1)
        updates = [v1, v2, lobby.ready(bob, T2), lobby.leave(lobby.host, T2 + 1)]
        updates += [lobby.ready(bob, T3)]
        newest = updates[-1].view
        for seed in range(5):
            order = random.Random(seed).sample(updates, len(updates))
            room_id = RoomId(uuid.uuid4())  # a fresh room per order, same contents
            for update in order:
                await live_state.apply(room_id, update)
            view = await live_state.read(room_id)
            assert view is not None and view.meta["version"] == newest.meta["version"]
            assert without_stay(view) == without_stay(newest), order


def without_stay(view: LiveRoomView) -> tuple[dict[str, str], list[dict[str, object]]]:
    """The view without the fields that depend on when each occupant arrived."""
    meta = {k: v for k, v in view.meta.items() if k != "created_at_ms"}
    seats = [json.loads(view.seats[f"seat:{i}"]) for i in range(len(view.seats))]
    for seat_ in seats:
        seat_.pop("joined_at_ms", None)
        seat_.pop("connected", None)
    return meta, seats
