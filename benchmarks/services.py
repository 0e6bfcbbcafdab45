"""PostgreSQL and Redis for one benchmark run.

Embedded servers in a temporary directory, stopped at the end, unless
``ROOMS_BENCH_DATABASE_URL`` / ``ROOMS_BENCH_REDIS_URL`` name servers to use.
On a given PostgreSQL the run works in a database of its own (see
``benchmarks.database``); on a given Redis it deletes, at the end, the keys of
the rooms it created and nothing else (never a FLUSH).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from benchmarks.database import room_ids
from harness.database import own_database_sync
from harness.services import postgres_server, redis_server

DATABASE_URL_VARIABLE = "ROOMS_BENCH_DATABASE_URL"
REDIS_URL_VARIABLE = "ROOMS_BENCH_REDIS_URL"


@dataclass(frozen=True, slots=True)
class Services:
    """Where the run's data lives.

    ``postgres_pid`` is the postmaster's process id when the benchmark started
    PostgreSQL itself (its CPU time is then the run's alone), else None.
    ``baseline_dsn`` is a second database on the same server for the asyncpg
    baseline: its rooms have no live view, and in the servers' database every
    server's housekeeping would rebuild them during the measured windows (one
    round rebuilt 3,523 views while the server answered 1,378 creates).
    """

    dsn: str
    baseline_dsn: str
    redis_url: str
    postgres_pid: int | None
    postgres_origin: str
    redis_origin: str


def _postmaster_pid(data_dir: Path) -> int | None:
    for pid_file in sorted(data_dir.rglob("postmaster.pid")):
        return int(pid_file.read_text().split()[0])
    return None


def _forget_rooms(dsn: str, redis_url: str) -> None:
    """Delete the live-state keys of this run's rooms from a shared Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        ids = room_ids(dsn)
        for start in range(0, len(ids), 1000):
            keys = [
                f"room:{rid}:{part}"
                for rid in ids[start : start + 1000]
                # "closed": the tombstone a closed room leaves (the lobby phase closes its rooms).
                for part in ("meta", "seats", "closed")
            ]
            client.unlink(*keys)
    finally:
        client.close()


@contextmanager
def services(scratch: Path) -> Iterator[Services]:
    """Bring up (or borrow) PostgreSQL and Redis; leave nothing behind."""
    with ExitStack() as stack:
        given_dsn = os.environ.get(DATABASE_URL_VARIABLE) or None
        given_redis = os.environ.get(REDIS_URL_VARIABLE) or None
        # Durable, as a real installation: the figures include the commit's fsync.
        server_dsn = stack.enter_context(
            postgres_server(given_dsn, scratch / "postgres", durable=True)
        )
        redis_url = stack.enter_context(redis_server(given_redis, scratch / "redis"))
        dsn = stack.enter_context(own_database_sync(server_dsn, "rooms_bench", schema=False))
        baseline_dsn = stack.enter_context(
            own_database_sync(server_dsn, "rooms_bench_baseline", schema=False)
        )
        if given_redis:
            # Registered after the database: runs before it is dropped.
            stack.callback(_forget_rooms, dsn, redis_url)
        yield Services(
            dsn,
            baseline_dsn,
            redis_url,
            None if given_dsn else _postmaster_pid(scratch / "postgres"),
            f"${DATABASE_URL_VARIABLE}" if given_dsn else "embedded",
            f"${REDIS_URL_VARIABLE}" if given_redis else "embedded",
        )
