"""Contract of LiveStateCache."""

from __future__ import annotations

import uuid

from rooms_domain import LiveRoomView, LiveStateCache, RoomId, UserId
from tests.contracts.support import new_room, random_code

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
