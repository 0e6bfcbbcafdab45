"""Fixtures for tests on real servers.

With ``ROOMS_TEST_DATABASE_URL`` / ``ROOMS_TEST_REDIS_URL`` set, tests use
those servers (each test in a database of its own, dropped after); without
them, embedded servers are started once per test session.
"""

from tests.integration.memory_server import memory_server, start_memory_server  # noqa: F401
from tests.integration.postgres_fixtures import *  # noqa: F403
from tests.integration.redis_fixtures import *  # noqa: F403
from tests.integration.server_process import module_database_url, servers  # noqa: F401
