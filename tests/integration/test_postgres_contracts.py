"""The Unit of Work contract against PostgreSQL: the memory fakes pass the same suite."""

from __future__ import annotations

import pytest

from tests.contracts.lobby_store import LobbyStoreContract
from tests.contracts.unit_of_work import UnitOfWorkContract

pytestmark = pytest.mark.integration


class TestPostgresUnitOfWork(UnitOfWorkContract):
    pass


class TestPostgresLobbyStore(LobbyStoreContract):
    pass
