"""The contract suites against the Redis adapters (the memory fakes pass the same ones)."""

from __future__ import annotations

import pytest

from tests.contracts.live_state import LiveStateCacheContract, LiveUpdateContract
from tests.contracts.room_events import RoomEventsContract

pytestmark = pytest.mark.integration


class TestRedisLiveStateCache(LiveStateCacheContract):
    pass


class TestRedisLiveUpdate(LiveUpdateContract):
    pass


class TestRedisRoomEvents(RoomEventsContract):
    pass
