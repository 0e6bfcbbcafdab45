"""PostgreSQL and Redis for one soak run, created for it and removed after it.

PostgreSQL: an embedded server in a temporary directory, or, with
``ROOMS_SOAK_DATABASE_URL`` (a maintenance DSN), a database of its own on
that server, dropped at the end. Redis is always a private embedded server:
the soak kills and freezes it, which no shared Redis should suffer.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.database import own_database
from harness.services import postgres_server, private_redis, scratch_dir
from rooms_adapters.embedded import in_thread
from rooms_adapters.embedded.redis import EmbeddedRedis

DATABASE_URL_VARIABLE = "ROOMS_SOAK_DATABASE_URL"


@dataclass(frozen=True, slots=True)
class Services:
    dsn: str  # the run's database, schema applied
    redis: EmbeddedRedis  # the flapper's to kill and restart
    work_dir: Path  # logs and the server's data dir
    postgres_origin: str


@asynccontextmanager
async def services() -> AsyncIterator[Services]:
    configured = os.environ.get(DATABASE_URL_VARIABLE) or None
    async with (
        in_thread(scratch_dir("rooms-soak-")) as work_dir,
        in_thread(private_redis(work_dir / "redis")) as redis,
        in_thread(postgres_server(configured, work_dir / "postgres")) as server_dsn,
        own_database(server_dsn, "rooms_soak") as dsn,
    ):
        origin = f"a database of its own on {DATABASE_URL_VARIABLE}" if configured else "embedded"
        yield Services(dsn, redis, work_dir, origin)
