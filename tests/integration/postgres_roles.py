"""A real login role with only the privileges a test grants it, dropped afterwards.

Roles belong to the whole PostgreSQL server, not to the test's database:
each has a name of its own, and teardown drops what it was granted, then it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

__all__ = ["READ_ONLY", "Role", "as_role", "login_role"]

# A role that may read every table of the test database, and do nothing else.
READ_ONLY = "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"

_PASSWORD = "rooms-test-role"


def as_role(dsn: str, role: str) -> str:
    """The same server and database, logged in as ``role``."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}:{_PASSWORD}@{host}"))


@dataclass(frozen=True)
class Role:
    name: str
    url: str  # the test's database, logged in as this role


@asynccontextmanager
async def login_role(database_url: str, *grants: str) -> AsyncIterator[Role]:
    """A new role on ``database_url``'s server; each of ``grants`` is run with ``{role}``."""
    role = f"rooms_test_role_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{_PASSWORD}'")
        for grant in grants:
            await admin.execute(grant.format(role=role))
        yield Role(role, as_role(database_url, role))
    finally:
        # Its sessions first (a server the test started may still hold one).
        await admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1", role
        )
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()
