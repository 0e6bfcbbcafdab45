"""The contract suites against the in-memory adapters (the sweep's too: PostgreSQL and Redis run
them in integration)."""

from __future__ import annotations

import uuid

import pytest

from rooms_adapters.memory import (
    MemoryDatabase,
    MemoryLiveStateCache,
    MemoryUnitOfWorkFactory,
)
from rooms_adapters.memory_housekeeping import (
    MemoryClosingTimes,
    MemoryRoundPacing,
    MemorySweepStore,
    MemoryViewVersions,
)
from rooms_domain import SystemClock, UserId
from tests.contracts.housekeeping import HousekeepingContract
from tests.contracts.live_state import LiveStateCacheContract, LiveUpdateContract
from tests.contracts.lobby_store import LobbyStoreContract
from tests.contracts.room_events import RoomEventsContract
from tests.contracts.support import MakeUser
from tests.contracts.unit_of_work import UnitOfWorkContract


@pytest.fixture
def uow_factory() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory(MemoryDatabase(lock_wait_s=0.2))


@pytest.fixture
def make_user(uow_factory: MemoryUnitOfWorkFactory) -> MakeUser:
    async def make(name: str) -> UserId:
        user_id = UserId(uuid.uuid4())
        uow_factory.db.add_user(user_id, name)
        return user_id

    return make


class TestMemoryUnitOfWork(UnitOfWorkContract):
    pass


class TestMemoryLiveStateCache(LiveStateCacheContract):
    pass


class TestMemoryLiveUpdate(LiveUpdateContract):
    pass


class TestMemoryRoomEvents(RoomEventsContract):
    pass


class TestMemoryLobbyStore(LobbyStoreContract):
    pass


class TestMemoryHousekeeping(HousekeepingContract):
    @pytest.fixture
    def live_state(self) -> MemoryLiveStateCache:
        # The sweep reads views only; no room events behind this cache.
        return MemoryLiveStateCache()

    @pytest.fixture
    def sweep_store(self, uow_factory: MemoryUnitOfWorkFactory) -> MemorySweepStore:
        return MemorySweepStore(uow_factory.db)

    @pytest.fixture
    def closing_times(self) -> MemoryClosingTimes:
        return MemoryClosingTimes(SystemClock())

    @pytest.fixture
    def view_versions(self, live_state: MemoryLiveStateCache) -> MemoryViewVersions:
        return MemoryViewVersions(live_state)

    @pytest.fixture
    def round_pacing(self) -> MemoryRoundPacing:
        return MemoryRoundPacing(SystemClock())
