"""The sweep on PostgreSQL and Redis: its contract, ``rooms sweep`` and ``serve``'s loop."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from rooms_adapters.postgres import PoolSettings, create_pool
from rooms_adapters.postgres.housekeeping import SWEEP_LOCK_KEY, PostgresSweepStore
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_housekeeping import RedisHousekeeping
from rooms_adapters.redis_live_apply import closed_key, tombstone_ttl_s
from rooms_adapters.redis_live_state import meta_key
from rooms_domain import (
    RequestKey,
    RoomId,
    SecureCodeGenerator,
    SystemClock,
    UnitOfWorkFactory,
    UserId,
)
from tests.contracts.housekeeping import (
    HousekeepingContract,
    add_rooms,
    assert_one_round_at_a_time,
    finished_key,
)
from tests.contracts.support import MakeUser
from tests.integration.redis_fixtures import RoomKeys, TrackedLiveState
from tests.integration.server_process import Servers, fetch, run_cli, server_env
from tests.integration.ws_support import ask, client, create_room, free_port, token_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sweep_store(
    pg_pool: asyncpg.Pool[asyncpg.Record], pg_settings: PoolSettings
) -> PostgresSweepStore:
    return PostgresSweepStore(pg_pool, pg_settings)


class TrackedHousekeeping(RedisHousekeeping):
    """Tells ``room_keys`` of every tombstone it may write, so the test deletes them."""

    def __init__(self, client: aioredis.Redis, keys: RoomKeys, pacing_prefix: str) -> None:
        super().__init__(client, ttl_s=tombstone_ttl_s(86_400), pacing_prefix=pacing_prefix)
        self._keys = keys

    async def due(self, room_ids: Sequence[RoomId], retention_ms: int) -> list[RoomId]:
        for room_id in room_ids:
            self._keys.track(room_id)
        return await super().due(room_ids, retention_ms)


@pytest.fixture
async def redis_housekeeping(
    redis_url: str, room_keys: RoomKeys, presence_prefix: str
) -> AsyncIterator[TrackedHousekeeping]:
    client = redis_client(redis_url, redis_timeout_s=2.0)
    try:
        yield TrackedHousekeeping(client, room_keys, presence_prefix)
    finally:
        await client.aclose()


@pytest.fixture
def closing_times(redis_housekeeping: TrackedHousekeeping) -> TrackedHousekeeping:
    return redis_housekeeping


@pytest.fixture
def view_versions(redis_housekeeping: TrackedHousekeeping) -> TrackedHousekeeping:
    return redis_housekeeping


@pytest.fixture
def round_pacing(redis_housekeeping: TrackedHousekeeping) -> TrackedHousekeeping:
    return redis_housekeeping


class TestPostgresRedisHousekeeping(HousekeepingContract):
    pass


# --- PostgreSQL and Redis only ----------------------------------------------------


async def test_two_stores_on_two_connections_never_both_act(
    database_url: str, pg_settings: PoolSettings
) -> None:
    # Two instances: two pools. While one holds its round, the other's is None.
    first = await create_pool(database_url, pg_settings)
    second = await create_pool(database_url, pg_settings)
    try:
        one, two = PostgresSweepStore(first, pg_settings), PostgresSweepStore(second, pg_settings)
        await assert_one_round_at_a_time(one, two)
    finally:
        await first.close()
        await second.close()


async def test_a_lock_held_by_a_dead_session_is_released_with_it(
    database_url: str, sweep_store: PostgresSweepStore
) -> None:
    holder = await asyncpg.connect(database_url)
    assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", SWEEP_LOCK_KEY)
    async with sweep_store.round() as blocked:
        assert blocked is None
    holder.terminate()  # as a SIGKILLed instance's connection ends
    # The server notices the closed socket on its own time: poll, bounded.
    for _ in range(100):
        async with sweep_store.round() as acting:
            if acting is not None:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the dead session's lock was never released")


@pytest.fixture
async def finished(uow_factory: UnitOfWorkFactory, make_user: MakeUser) -> RequestKey:
    """A finished request of a new user's."""
    return await finished_key(uow_factory, await make_user("Ann"))


async def test_finishing_a_key_stamps_it_with_the_database_clock(
    finished: RequestKey, database_url: str
) -> None:
    (row,) = await fetch(
        database_url,
        "SELECT (response_payload->>'finished_at_ms')::bigint AS at,"
        " (extract(epoch FROM now()) * 1000)::bigint AS now"
        " FROM ws_idempotency WHERE user_id = $1 AND request_id = $2",
        finished.user_id,
        finished.request_id,
    )
    assert 0 <= row["now"] - row["at"] < 60_000


async def test_a_finished_row_without_a_time_counts_from_the_first_sweep(
    finished: RequestKey, database_url: str, sweep_store: PostgresSweepStore
) -> None:
    # As a row finished before this version stored times.
    await fetch(
        database_url,
        "UPDATE ws_idempotency SET response_payload = response_payload - 'finished_at_ms'",
    )
    async with sweep_store.round() as sweep:
        assert sweep is not None
        first = await sweep.purge_finished(None, 100, 1000)
        assert first.deleted == 0  # stamped now, not deleted
        await asyncio.sleep(1.1)
        second = await sweep.purge_finished(None, 100, 1000)
        assert second.deleted == 1
    assert not await fetch(
        database_url, "SELECT FROM ws_idempotency WHERE request_id = $1", finished.request_id
    )


async def test_a_tombstone_written_at_closing_dates_the_room(
    uow_factory: UnitOfWorkFactory,
    make_user: MakeUser,
    live_state: TrackedLiveState,
    closing_times: TrackedHousekeeping,
    redis: aioredis.Redis,
) -> None:
    from rooms_domain import LiveUpdate, RoomStatus

    owner = await make_user("Ann")
    (room,) = await add_rooms(uow_factory, owner, [RoomStatus.CLOSED], version=1)
    await live_state.apply(room.room_id, LiveUpdate.of(room, {owner: "Ann"}, (), 1))
    assert re.fullmatch(r"1:\d+", str(await redis.get(closed_key(room.room_id))))
    await asyncio.sleep(0.05)
    # Counted from the closing, not from this first sighting.
    assert await closing_times.due([room.room_id], 20) == [room.room_id]


async def test_rows_a_running_transaction_holds_are_skipped_not_waited_for(
    uow_factory: UnitOfWorkFactory,
    finished: RequestKey,
    database_url: str,
    sweep_store: PostgresSweepStore,
) -> None:
    from rooms_domain import RoomStatus

    (room,) = await add_rooms(uow_factory, finished.user_id, [RoomStatus.CLOSED])
    holder = await asyncpg.connect(database_url)
    try:
        # A request running on both: a failed key reclaimed, a closed room locked.
        await holder.execute("BEGIN")
        await holder.execute("SELECT FROM ws_idempotency FOR UPDATE")
        await holder.execute("SELECT FROM rooms WHERE room_id = $1 FOR UPDATE", room.room_id)
        async with sweep_store.round() as sweep:
            assert sweep is not None
            started = time.monotonic()
            assert (await sweep.purge_finished(None, 100, 0)).deleted == 0
            assert await sweep.delete_closed([room.room_id]) == []
            assert time.monotonic() - started < 5  # no lock wait ran out
        await holder.execute("ROLLBACK")
        async with sweep_store.round() as sweep:
            assert sweep is not None
            assert (await sweep.purge_finished(None, 100, 0)).deleted == 1
            assert await sweep.delete_closed([room.room_id]) == [room.room_id]
    finally:
        await holder.close()
    assert not await fetch(
        database_url, "SELECT FROM ws_idempotency WHERE request_id = $1", finished.request_id
    )


# --- rooms sweep, at scale ------------------------------------------------------------

ROOMS = 100_000
_INSERT_CLOSED = """
WITH made AS (
    INSERT INTO rooms (room_id, owner_user_id, code, status, ruleset_id, version)
    SELECT gen_random_uuid(), $1, code, 'closed', 'classic', 3 FROM unnest($2::text[]) AS code
    RETURNING room_id
)
INSERT INTO room_seats (room_id, seat_index, status, ready)
SELECT room_id, i, 'empty', 'not_ready' FROM made, generate_series(0, 3) AS i
"""


async def _old_tombstones(redis_url: str, room_ids: list[RoomId], keys: RoomKeys) -> None:
    """Closing times two days back, as the live-view step would have written them."""
    client = redis_client(redis_url, redis_timeout_s=30)
    now_s, _ = await client.time()
    at = (now_s - 2 * 86_400) * 1000
    try:
        for start in range(0, len(room_ids), 10_000):
            pipe = client.pipeline(transaction=False)
            for room_id in room_ids[start : start + 10_000]:
                keys.track(room_id)
                pipe.set(closed_key(room_id), f"3:{at}", ex=3600)
            await pipe.execute()
    finally:
        await client.aclose()


_LINE = re.compile(
    r"closed rooms: (\d+) deleted, (\d+) waiting for their retention \((\d+) batches, ([\d.]+) s\)"
)


async def test_rooms_sweep_deletes_100000_closed_rooms_in_bounded_batches(
    database_url: str, redis_url: str, room_keys: RoomKeys, tmp_path: Path
) -> None:
    codes = SecureCodeGenerator()
    drawn = sorted({str(codes.next_code()) for _ in range(ROOMS + 100)})[:ROOMS]
    owner = UserId(uuid.uuid4())
    conn = await asyncpg.connect(database_url)  # no statement timeout: the setup is big
    try:
        await conn.execute("INSERT INTO users VALUES ($1, 'Ann')", owner)
        await conn.execute(_INSERT_CLOSED, owner, drawn, timeout=300)
        room_ids = [r[0] for r in await conn.fetch("SELECT room_id FROM rooms")]
    finally:
        await conn.close()
    await _old_tombstones(redis_url, room_ids, room_keys)

    batch, batches = 1000, 25
    env = server_env(
        database_url,
        redis_url,
        tmp_path / "data",
        ROOMS_SWEEP_BATCH_SIZE=str(batch),
        ROOMS_SWEEP_BATCHES_PER_ROUND=str(batches),
    )
    rounds: list[tuple[int, int, float]] = []
    while True:
        done = await asyncio.to_thread(run_cli, "sweep", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        match = _LINE.search(done.stdout)
        assert match is not None, done.stdout
        deleted, waiting, used, seconds = match.groups()
        assert int(waiting) == 0
        # Bounded: never more than a round's batches of batch rooms each.
        assert int(used) <= batches and int(deleted) <= batch * batches
        rounds.append((int(deleted), int(used), float(seconds)))
        if int(deleted) == 0:
            break
        assert len(rounds) <= ROOMS // (batch * batches) + 2
    assert sum(d for d, _, _ in rounds) == ROOMS
    assert len(rounds) == ROOMS // (batch * batches) + 1
    print(f"\n100,000 closed rooms: rounds (deleted, batches, seconds) = {rounds}")
    (seats,) = await fetch(database_url, "SELECT count(*) FROM room_seats")
    assert seats[0] == 0
    # Deleted long after their closing: the tombstones went with them.
    client = redis_client(redis_url, redis_timeout_s=10)
    try:
        assert await client.exists(*(closed_key(r) for r in room_ids[:1000])) == 0
    finally:
        await client.aclose()

    # A purged code is free again: a create that draws it gets it.
    uow_pool = await create_pool(database_url, PoolSettings())
    try:
        from rooms_adapters.memory import MemoryLiveStateCache
        from rooms_adapters.postgres import PostgresUnitOfWorkFactory
        from rooms_domain import (
            CreateRoom,
            CreateRoomCommand,
            RequestId,
            RoomSettings,
            ScriptedCodeGenerator,
            Visibility,
        )

        create = CreateRoom(
            uow_factory=PostgresUnitOfWorkFactory(uow_pool, PoolSettings()),
            codes=ScriptedCodeGenerator([drawn[12_345]]),
            live_state=MemoryLiveStateCache(),
            clock=SystemClock(),
        )
        settings = RoomSettings(Visibility.PRIVATE, 4, "classic", {})
        made = await create(CreateRoomCommand(owner, RequestId(uuid.uuid4()), settings))
        assert str(made.code) == drawn[12_345]
    finally:
        await uow_pool.close()


async def test_rooms_sweep_does_nothing_while_another_instance_sweeps(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    make_user: MakeUser,
    presence_prefix: str,
    redis: aioredis.Redis,
) -> None:
    env = server_env(
        database_url, redis_url, tmp_path / "data", ROOMS_PRESENCE_KEY_PREFIX=presence_prefix
    )
    # An instance swept just now: rooms sweep, on demand, acts all the same.
    await redis.set(f"{presence_prefix}:sweep:round", "1", px=60_000)
    holder = await asyncpg.connect(database_url)
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", SWEEP_LOCK_KEY)
        done = await asyncio.to_thread(run_cli, "sweep", env=env, cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, "another instance is sweeping: nothing done\n")
    finally:
        await holder.close()
    done = await asyncio.to_thread(run_cli, "sweep", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == [
        "closed rooms",
        "idempotency rows",
        "live views",
        "held seats",
    ]


def test_rooms_sweep_without_its_database_fails_in_one_line(tmp_path: Path) -> None:
    env = server_env("postgresql://nobody@127.0.0.1:1/none", "redis://127.0.0.1:1", tmp_path)
    done = run_cli("sweep", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("rooms: ")


async def test_rooms_sweep_with_redis_away_runs_what_it_can_and_fails_in_one_line(
    database_url: str, uow_factory: UnitOfWorkFactory, make_user: MakeUser, tmp_path: Path
) -> None:
    from rooms_domain import RoomStatus

    await add_rooms(uow_factory, await make_user("Ann"), [RoomStatus.OPEN])
    env = server_env(database_url, "redis://127.0.0.1:1", tmp_path / "data")
    done = await asyncio.to_thread(run_cli, "sweep", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "idempotency rows: 0 deleted" in done.stdout  # PostgreSQL's task still ran
    (line,) = done.stderr.splitlines()
    assert line.startswith("rooms: sweep failed: live views: failed: LiveStateUnavailable")
    assert "; held seats: failed: LiveStateUnavailable" in line


# --- serve's loop -------------------------------------------------------------------


async def test_serve_sweeps_every_interval_and_a_forgotten_request_runs_again(
    database_url: str,
    redis_url: str,
    uow_factory: UnitOfWorkFactory,
    make_user: MakeUser,
    room_keys: RoomKeys,
    redis: aioredis.Redis,
    servers: Servers,
    tmp_path: Path,
) -> None:
    from rooms_domain import RoomStatus

    owner = await make_user("Ann")
    closed, open_ = await add_rooms(uow_factory, owner, [RoomStatus.CLOSED, RoomStatus.OPEN])
    room_keys.track(closed.room_id)
    room_keys.track(open_.room_id)
    env = server_env(
        database_url,
        redis_url,
        tmp_path / "data",
        ROOMS_SWEEP_INTERVAL_SECONDS="1",
        ROOMS_CLOSED_ROOM_RETENTION_SECONDS="1",
        ROOMS_IDEMPOTENCY_RETENTION_SECONDS="1",
        ROOMS_METRICS_PORT=str(metrics_port := free_port()),
    )
    started = time.monotonic()
    server = await asyncio.to_thread(servers.start, env)
    # A request, replayed while remembered, then a new request once forgotten.
    request = create_room()
    async with client(server.url, token_for(owner)) as ws:
        first = await ask(ws, request)
        assert (await ask(ws, request))["payload"] == first["payload"]
        for _ in range(300):
            if not await fetch(
                database_url,
                "SELECT FROM ws_idempotency WHERE request_id = $1",
                uuid.UUID(request["request_id"]),
            ):
                break
            await asyncio.sleep(0.1)
        again = await ask(ws, request)
    for made in (first, again):
        room_keys.track(RoomId(uuid.UUID(made["payload"]["room_id"])))
    assert again["type"] == "create_room_ok"
    assert again["payload"]["room_id"] != first["payload"]["room_id"]

    async def state() -> tuple[bool, bool]:
        gone = not await fetch(database_url, "SELECT FROM rooms WHERE room_id = $1", closed.room_id)
        view = await redis.hget(meta_key(open_.room_id), "version")
        return gone, view == str(open_.version)

    # A closed room with no closing time: seen by one round, deleted by a
    # later one; the open room's missing view rebuilt by the first.
    for _ in range(300):
        if await state() == (True, True):
            break
        await asyncio.sleep(0.1)
    assert await state() == (True, True)
    assert time.monotonic() - started < 60

    scraped = await asyncio.to_thread(_scrape, f"http://127.0.0.1:{metrics_port}/metrics")

    def sample(pattern: str) -> float:
        found = re.search(pattern + r" ([\d.e+]+)\n", scraped)
        assert found is not None, pattern
        return float(found.group(1))

    assert sample(r'rooms_sweep_deleted_total\{kind="room"\}') == 1
    assert sample(r'rooms_sweep_deleted_total\{kind="idempotency"\}') >= 1
    assert sample("rooms_sweep_views_rebuilt_total") >= 1
    assert sample(r'rooms_rooms\{status="open"\}') >= 1
    assert sample("rooms_sweep_seconds_count") >= 2
    assert sample(r'rooms_sweep_rounds_total\{outcome="acted"\}') >= 2


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text: str = answer.read().decode()
    return text


# --- a lost view, rebuilt with presence ------------------------------------------------


async def _eventually(check: Callable[[], Awaitable[bool]], within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition never met"
        await asyncio.sleep(0.1)


async def test_a_lost_view_rebuilt_by_the_sweep_holds_the_gone_player_and_releases_them(
    database_url: str,
    redis_url: str,
    room_keys: RoomKeys,
    redis: aioredis.Redis,
    servers: Servers,
    tmp_path: Path,
) -> None:
    from tests.integration.fullstack import add_user
    from tests.integration.lobby_support import Player

    prefix = f"presence-test-{uuid.uuid4().hex[:8]}"
    env = server_env(
        database_url,
        redis_url,
        tmp_path / "data",
        ROOMS_PRESENCE_KEY_PREFIX=prefix,
        ROOMS_SEAT_HOLD_SECONDS="2",
    )
    # serve runs no round here: every one is a `rooms sweep` the test runs.
    server = await asyncio.to_thread(servers.start, {**env, "ROOMS_SWEEP_INTERVAL_SECONDS": "3600"})
    ann, bob = await add_user(database_url, "Ann"), await add_user(database_url, "Bob")

    async def sweep() -> str:
        done = await asyncio.to_thread(run_cli, "sweep", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        async with client(server.url, token_for(ann)) as ws_ann:
            host = Player(ws_ann)
            room_id, code = await host.create_room()
            room = RoomId(uuid.UUID(room_id))
            room_keys.track(room)
            presence_key = f"room:{room_id}:presence"
            async with client(server.url, token_for(bob)) as ws_bob:
                await Player(ws_bob).ask("join_room", code=code)
                await _eventually(lambda: _equals(redis.scard(presence_key), 2))
                # Redis loses the room (its view and who follows it); Bob's
                # socket then closes: no view to flip, nothing held.
                await redis.delete(*(f"room:{room_id}:{k}" for k in ("meta", "seats", "presence")))
            await _eventually(lambda: _followed_nowhere(redis, prefix, f"{room_id}/{bob}"))
            assert await redis.zscore(f"{prefix}:held", f"{room_id}/{bob}") is None

            assert "live views: 1 rebuilt of 1 open or in-game rooms" in await sweep()
            seats = await redis.hgetall(f"room:{room_id}:seats")
            assert '"connected":true' in seats["seat:0"]  # Ann's socket is still there
            assert '"connected":false' in seats["seat:1"]
            assert await redis.zscore(f"{prefix}:held", f"{room_id}/{bob}") is not None
            (gone,) = await host.expect("player_disconnected")
            assert gone["payload"]["user_id"] == str(bob)

            # Released by a round after the hold, as any held seat.
            for _ in range(60):
                if "held seats: 1 released" in await sweep():
                    break
                await asyncio.sleep(0.5)
            (left,) = await host.expect("player_left")
            assert left["payload"]["user_id"] == str(bob)
            assert left["payload"]["reason"] == "timeout"
            (row,) = await fetch(
                database_url,
                "SELECT user_id FROM room_seats WHERE room_id = $1 AND seat_index = 1",
                room,
            )
            assert row["user_id"] is None
            seats = await redis.hgetall(f"room:{room_id}:seats")
            assert '"connected":true' in seats["seat:0"] and seats["seat:1"] == "{}"
    finally:
        servers.stop_all()  # no beat after the clean-up
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        await redis.delete(*keys, *(f"room:{r}:presence" for r in room_keys.room_ids))


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _followed_nowhere(redis: aioredis.Redis, prefix: str, member: str) -> bool:
    async for key in redis.scan_iter(match=f"{prefix}:instance:*"):
        if await redis.sismember(key, member):
            return False
    return True


# --- the cluster's pacing ---------------------------------------------------------------


def _rounds(scraped: str, outcome: str) -> float:
    found = re.search(rf'rooms_sweep_rounds_total\{{outcome="{outcome}"\}} ([\d.e+]+)\n', scraped)
    return 0.0 if found is None else float(found.group(1))


async def test_three_instances_make_about_one_round_per_interval_between_them(
    database_url: str, redis_url: str, presence_prefix: str, servers: Servers, tmp_path: Path
) -> None:
    ports = [free_port() for _ in range(3)]
    for i, port in enumerate(ports):
        env = server_env(
            database_url,
            redis_url,
            tmp_path / f"data-{i}",
            ROOMS_SWEEP_INTERVAL_SECONDS="1",
            ROOMS_PRESENCE_KEY_PREFIX=presence_prefix,
            ROOMS_METRICS_PORT=str(port),
        )
        await asyncio.to_thread(servers.start, env)

    async def tally() -> tuple[float, float]:
        urls = [f"http://127.0.0.1:{port}/metrics" for port in ports]
        scraped = [await asyncio.to_thread(_scrape, url) for url in urls]
        acted = sum(_rounds(s, "acted") for s in scraped)
        return acted, sum(_rounds(s, "skipped") for s in scraped)

    acted_before, _ = await tally()
    started = time.monotonic()
    await asyncio.sleep(5)  # a few intervals of all three ticking
    acted_after, skipped = await tally()
    elapsed = time.monotonic() - started
    # Unpaced, each instance acts on nearly every tick: about 3 per second.
    assert acted_after - acted_before <= 1.5 * elapsed / 1.0 + 2
    assert acted_after >= 1 and skipped >= 1
