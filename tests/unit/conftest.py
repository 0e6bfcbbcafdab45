"""Fixtures shared by the unit tests that run the contract suites on the in-memory adapters."""

from __future__ import annotations

import pytest

from rooms_adapters.memory import MemoryLiveStateCache, MemoryRoomEvents


@pytest.fixture
def room_events() -> MemoryRoomEvents:
    return MemoryRoomEvents()


@pytest.fixture
def live_state(room_events: MemoryRoomEvents) -> MemoryLiveStateCache:
    return MemoryLiveStateCache(events=room_events)
