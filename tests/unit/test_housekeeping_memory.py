"""The sweep's contract suite against the in-memory fakes (PostgreSQL and Redis: integration)."""

from __future__ import annotations

import uuid

import pytest

from rooms_adapters.memory import MemoryDatabase, MemoryLiveStateCache, MemoryUnitOfWorkFactory
from rooms_adapters.memory_housekeeping import (
    MemoryClosingTimes,
    MemorySweepStore,
    MemoryViewVersions,
)
from rooms_domain import SystemClock, UserId
from tests.contracts.housekeeping import HousekeepingContract
from tests.contracts.support import MakeUser


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


@pytest.fixture
def sweep_store(uow_factory: MemoryUnitOfWorkFactory) -> MemorySweepStore:
    return MemorySweepStore(uow_factory.db)


@pytest.fixture
def closing_times() -> MemoryClosingTimes:
    return MemoryClosingTimes(SystemClock())


@pytest.fixture
def live_state() -> MemoryLiveStateCache:
    return MemoryLiveStateCache()


@pytest.fixture
def view_versions(live_state: MemoryLiveStateCache) -> MemoryViewVersions:
    return MemoryViewVersions(live_state)


class TestMemoryHousekeeping(HousekeepingContract):
    pass
