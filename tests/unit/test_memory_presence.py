"""The Presence contract against the in-memory adapter."""

from __future__ import annotations

import pytest

from rooms_adapters.memory import MemoryLiveStateCache, MemoryRoomEvents
from rooms_adapters.memory_presence import MemoryPresence
from tests.contracts.presence import TIMEOUT_S, PresenceContract


@pytest.fixture
def room_events() -> MemoryRoomEvents:
    return MemoryRoomEvents()


@pytest.fixture
def live_state() -> MemoryLiveStateCache:
    return MemoryLiveStateCache()


@pytest.fixture
def presence(live_state: MemoryLiveStateCache, room_events: MemoryRoomEvents) -> MemoryPresence:
    return MemoryPresence(live_state, timeout_s=TIMEOUT_S, events=room_events)


class TestMemoryPresence(PresenceContract):
    pass
