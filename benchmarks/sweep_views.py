"""The live-view repair's cost with many open rooms whose views are current (issue 14).

    ROOMS_TEST_DATABASE_URL=postgresql://... ROOMS_TEST_REDIS_URL=redis://... \\
        python -m benchmarks.sweep_views --rooms 20000 --rounds 5 --serve-seconds 60

In a database of its own (dropped at the end) it writes ``--rooms`` open rooms
of three players each, builds their views in Redis with a whole pass (deleted
at the end), then prints, for each round of the task (``SweepLimits``
defaults, unpaced), the CPU it cost this process, its PostgreSQL backend and
Redis (``INFO cpu``: the whole server's, so other clients count too). With
``--serve-seconds``, a ``rooms serve`` on the same stores (a round every 5 s)
is then measured over that window: its CPU and its PostgreSQL backends', per
second. The figures before a change come from running this module with the
older sources first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
import uuid

import asyncpg
import redis.asyncio as aioredis

from benchmarks.procfs import cpu_seconds
from harness.database import create_database, drop_database
from harness.server import ROOMS, clean_env
from rooms_adapters.postgres import PoolSettings, create_pool
from rooms_adapters.postgres.housekeeping import PostgresSweepStore
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_housekeeping import RedisHousekeeping
from rooms_adapters.redis_live_state import RedisLiveStateCache, meta_key, seats_key
from rooms_domain import SystemClock
from rooms_domain.housekeeping import Housekeeping, SweepLimits
from rooms_domain.model import CODE_ALPHABET, RoomId


def _code(n: int) -> str:
    return "".join(CODE_ALPHABET[(n >> (5 * i)) % 32] for i in range(6))


async def _fill(conn: asyncpg.Connection[asyncpg.Record], rooms: int) -> list[RoomId]:
    users, rows, seats = [], [], []
    for n in range(rooms):
        room_id, members = RoomId(uuid.uuid4()), [uuid.uuid4() for _ in range(3)]
        users += [(user, f"Player {3 * n + i}") for i, user in enumerate(members)]
        rows.append((room_id, members[0], _code(n), "classic", 3))
        for index in range(4):
            user = members[index] if index < 3 else None
            status = "occupied" if user else "empty"
            seats.append((room_id, index, status, user, index == 0, "not_ready"))
    await conn.copy_records_to_table("users", records=users, columns=["user_id", "display_name"])
    columns = ["room_id", "owner_user_id", "code", "ruleset_id", "version"]
    await conn.copy_records_to_table("rooms", records=rows, columns=columns)
    columns = ["room_id", "seat_index", "status", "user_id", "is_host", "ready"]
    await conn.copy_records_to_table("room_seats", records=seats, columns=columns)
    await conn.execute("VACUUM ANALYZE")
    return [row[0] for row in rows]


async def _redis_cpu(client: aioredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _backends_cpu(conn: asyncpg.Connection[asyncpg.Record]) -> float:
    """CPU seconds of every other session on this database (a pool's connections)."""
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return sum(cpu_seconds(row[0]) for row in rows)


async def _rounds(dsn: str, client: aioredis.Redis, rounds: int) -> None:
    settings = PoolSettings(min_size=1, max_size=1)
    pool = await create_pool(dsn, settings)
    probe = await asyncpg.connect(dsn)
    try:
        store = PostgresSweepStore(pool, settings)
        views = RedisHousekeeping(client, ttl_s=3600, timeout_s=60)
        cache = RedisLiveStateCache(client, redis_timeout_s=60)
        limits = SweepLimits(view_pass_every_ms=0)  # a pass every round, unpaced
        sweep = Housekeeping(store, views, views, cache, SystemClock(), limits)
        started = time.monotonic()
        built = await sweep.run_round(whole_view_pass=True)
        print(f"{built.tasks[2].done} views built in {time.monotonic() - started:.1f} s")
        for n in range(rounds):
            async with store.round() as held:
                assert held is not None
                before = (time.process_time(), await _backends_cpu(probe), await _redis_cpu(client))
                report = await sweep.repair(held)
                after = (time.process_time(), await _backends_cpu(probe), await _redis_cpu(client))
            ms = [f"{(b - a) * 1000:.0f} ms" for a, b in zip(before, after, strict=True)]
            print(
                f"round {n}: {report.examined} rooms examined, {report.done} rebuilt: "
                f"CPU here {ms[0]}, PostgreSQL backend {ms[1]}, Redis (whole server) {ms[2]}"
            )
    finally:
        await probe.close()
        await pool.close()


async def _serve(dsn: str, redis_url: str, seconds: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = clean_env(
        ROOMS_DATABASE_URL=dsn,
        ROOMS_REDIS_URL=redis_url,
        ROOMS_JWT_SECRET="sweep-views-benchmark-secret-0123456789abcdef",
        ROOMS_DATA_DIR=tempfile.mkdtemp(prefix="sweep-views-"),
        ROOMS_SWEEP_INTERVAL_SECONDS="5",
        **{k: v for k, v in os.environ.items() if k.startswith("ROOMS_SWEEP_")},
    )
    argv = [ROOMS, "serve", "--host", "127.0.0.1", "--port", str(port)]
    quiet = asyncio.subprocess.DEVNULL
    server = await asyncio.create_subprocess_exec(*argv, env=env, stdout=quiet, stderr=quiet)
    conn = await asyncpg.connect(dsn)
    try:
        await asyncio.sleep(8)  # started, its first round done
        before = (cpu_seconds(server.pid), await _backends_cpu(conn))
        await asyncio.sleep(seconds)
        after = (cpu_seconds(server.pid), await _backends_cpu(conn))
        share = [f"{(b - a) / seconds * 100:.1f} %" for a, b in zip(before, after, strict=True)]
        print(f"rooms serve over {seconds} s: {share[0]} of a core, PostgreSQL {share[1]}")
    finally:
        await conn.close()
        server.terminate()
        await server.wait()


async def main(rooms: int, rounds: int, serve_seconds: int) -> None:
    server_dsn, redis_url = (
        os.environ["ROOMS_TEST_DATABASE_URL"],
        os.environ["ROOMS_TEST_REDIS_URL"],
    )
    dsn = await create_database(server_dsn, "sweep_views")
    client = redis_client(redis_url, redis_timeout_s=60)
    room_ids: list[RoomId] = []
    try:
        conn = await asyncpg.connect(dsn)
        try:
            room_ids = await _fill(conn, rooms)
        finally:
            await conn.close()
        await _rounds(dsn, client, rounds)
        if serve_seconds:
            await _serve(dsn, redis_url, serve_seconds)
    finally:
        for start in range(0, len(room_ids), 5000):
            batch = room_ids[start : start + 5000]
            await client.delete(*(key for r in batch for key in (meta_key(r), seats_key(r))))
        await client.aclose()
        await drop_database(server_dsn, dsn)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve-seconds", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.rooms, args.rounds, args.serve_seconds))
    sys.exit(0)
