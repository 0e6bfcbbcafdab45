"""The Presence contract against the in-memory adapter."""

from __future__ import annotations

import pytest

from rooms_adapters.memory import MemoryLiveStateCache, MemoryRoomEvents
from rooms_adapters.memory_presence import MemoryPresence
from rooms_domain import RoomId
from tests.contracts.presence import TIMEOUT_S, LoseView, PresenceContract


@pytest.fixture
def lose_view(live_state: MemoryLiveStateCache) -> LoseView:
    async def lose(room_id: RoomId) -> None:
        del live_state.views[room_id]

    return lose


@pytest.fixture
def presence(live_state: MemoryLiveStateCache, room_events: MemoryRoomEvents) -> MemoryPresence:
    return MemoryPresence(live_state, timeout_s=TIMEOUT_S, events=room_events)


class TestMemoryPresence(PresenceContract):
    pass
