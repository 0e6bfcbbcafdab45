"""Fixtures for tests on real servers.

With ``ROOMS_TEST_DATABASE_URL`` / ``ROOMS_TEST_REDIS_URL`` set, tests use
those servers (each test in a database of its own, dropped after); without
them, embedded servers are started once per test session.
"""

from collections.abc import Iterator

import pytest

from tests.integration.fullstack import serve  # noqa: F401
from tests.integration.memory_server import memory_server, start_memory_server  # noqa: F401
from tests.integration.postgres_fixtures import *  # noqa: F403
from tests.integration.redis_fixtures import *  # noqa: F403
from tests.integration.server_probe import leaks_in
from tests.integration.server_process import (  # noqa: F401
    SERVER_LOGS,
    module_database_url,
    servers,
)
from tests.integration.ws_support import ISSUED_TOKENS, PAYLOAD_MARKER


@pytest.fixture(scope="session", autouse=True)
def server_logs_hold_no_token_and_no_payload() -> Iterator[None]:
    """After the whole run: no server log holds a token signature or a payload marker.

    Fails as an error at the teardown of the last test, naming the log.
    """
    yield
    leaks = leaks_in(SERVER_LOGS, tokens=ISSUED_TOKENS, markers=[PAYLOAD_MARKER])
    assert not leaks, f"server logs of this run leak secrets or payloads: {leaks}"
