"""Story 1.1 on a real PostgreSQL: CreateRoom with the asyncpg adapters.

The live-state cache is the in-memory one here; Redis has its own tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from harness.postgres_proxy import PostgresProxy
from rooms_adapters.memory import MemoryLiveStateCache
from rooms_adapters.postgres import (
    PoolSettings,
    PostgresUnitOfWorkFactory,
    add_user,
    create_pool,
)
from rooms_domain import (
    CodeGenerator,
    CodeSpaceExhausted,
    Completion,
    CreateRoom,
    CreateRoomCommand,
    CreateRoomOk,
    Fresh,
    IdempotencyKeyReused,
    Refusal,
    Replay,
    RequestId,
    RequestInProgress,
    RequestKey,
    ScriptedCodeGenerator,
    SecureCodeGenerator,
    StoredReply,
    StoreUnavailable,
    SystemClock,
    UnitOfWorkFactory,
    UnknownUser,
    UserId,
)
from tests.contracts.support import new_room, random_code
from tests.integration.postgres_support import (
    KillAfterRoomInsert,
    rows,
    through_a_proxy,
    wait_until_blocked_on_a_lock,
    written_by,
)

pytestmark = pytest.mark.integration

NOTHING = {"rooms": 0, "room_seats": 0, "ws_idempotency": 0}
ONE_ROOM = {"rooms": 1, "room_seats": 4, "ws_idempotency": 1}


def use_case(
    uow_factory: UnitOfWorkFactory, codes: CodeGenerator | None = None, max_code_draws: int = 8
) -> CreateRoom:
    return CreateRoom(
        uow_factory=uow_factory,
        codes=codes or SecureCodeGenerator(),
        live_state=MemoryLiveStateCache(),
        clock=SystemClock(),
        max_code_draws=max_code_draws,
    )


def command(
    user_id: UserId, request_id: RequestId | None = None, **payload: object
) -> CreateRoomCommand:
    return CreateRoomCommand.from_payload(
        user_id, request_id or RequestId(uuid.uuid4()), {"ruleset_id": "classic", **payload}
    )


async def runs_then_replays(create: CreateRoom, cmd: CreateRoomCommand) -> None:
    """Runs ``cmd`` twice: the first run does the work, the second replays its result."""
    first, second = await create.run(cmd), await create.run(cmd)
    assert (first.replayed, second.replayed) == (False, True)
    assert second.result == first.result


@pytest.fixture
async def extra_pools(database_url: str) -> AsyncIterator[list[asyncpg.Pool[asyncpg.Record]]]:
    """Pools a test opens with settings of its own; closed after the test."""
    pools: list[asyncpg.Pool[asyncpg.Record]] = []
    yield pools
    for pool in pools:
        pool.terminate()


@pytest.fixture
async def ann(pg_pool: asyncpg.Pool[asyncpg.Record]) -> UserId:
    """A user named Ann, added before the test: the requester of most tests here."""
    return await add_user(pg_pool, "Ann")


async def test_a_create_writes_the_contracts_rows_and_nothing_else(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    cmd = command(ann, max_players=3, ruleset_config={"turn_s": 30, "ñ": [1, 2.5]})
    create = use_case(uow_factory)

    result = await create(cmd)

    assert await rows(
        pg_pool,
        "SELECT room_id, owner_user_id, code, visibility::text, status::text, max_players,"
        " ruleset_id, ruleset_config, version FROM rooms",
    ) == [
        {
            "room_id": result.room_id,
            "owner_user_id": ann,
            "code": result.code,
            "visibility": "private",
            "status": "open",
            "max_players": 3,
            "ruleset_id": "classic",
            "ruleset_config": {"turn_s": 30, "ñ": [1, 2.5]},
            "version": 0,
        }
    ]
    seats = await rows(
        pg_pool,
        "SELECT room_id, seat_index, status::text, user_id, is_host, ready::text"
        " FROM room_seats ORDER BY seat_index",
    )
    assert seats == [
        {
            "room_id": result.room_id,
            "seat_index": 0,
            "status": "occupied",
            "user_id": ann,
            "is_host": True,
            "ready": "not_ready",
        },
        *(
            {
                "room_id": result.room_id,
                "seat_index": i,
                "status": "empty",
                "user_id": None,
                "is_host": False,
                "ready": "not_ready",
            }
            for i in (1, 2, 3)
        ),
    ]
    assert await rows(
        pg_pool,
        "SELECT user_id, request_id, status::text,"
        " response_payload - 'finished_at_ms' AS response_payload FROM ws_idempotency",
    ) == [
        {
            "user_id": ann,
            "request_id": cmd.request_id,
            "status": "completed",
            "response_payload": {"fingerprint": cmd.fingerprint(), "result": result.to_payload()},
        }
    ]
    assert result == CreateRoomOk(result.room_id, result.code, seat_index=0, is_host=True)


async def test_a_repeated_request_replays_and_writes_nothing(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    await runs_then_replays(use_case(uow_factory), command(ann))

    assert await written_by(pg_pool, ann) == ONE_ROOM


async def test_twenty_concurrent_duplicates_create_one_room(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    cmd = command(ann)
    create = use_case(uow_factory)

    outcomes = await asyncio.gather(*(create(cmd) for _ in range(20)), return_exceptions=True)

    results = {o for o in outcomes if isinstance(o, CreateRoomOk)}
    others = [o for o in outcomes if not isinstance(o, CreateRoomOk)]
    assert len(results) == 1, outcomes
    # The contract allows "request_in_progress" to a duplicate that waited too long.
    assert all(isinstance(o, RequestInProgress) for o in others), others
    assert await written_by(pg_pool, ann) == ONE_ROOM
    assert await rows(pg_pool, "SELECT status::text FROM ws_idempotency") == [
        {"status": "completed"}
    ]


async def test_a_request_id_reused_for_another_payload_is_refused(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    request_id = RequestId(uuid.uuid4())
    create = use_case(uow_factory)
    await create(command(ann, request_id, max_players=4))

    with pytest.raises(IdempotencyKeyReused):
        await create(command(ann, request_id, max_players=2))
    assert await written_by(pg_pool, ann) == ONE_ROOM


async def test_a_request_recorded_as_failed_runs_again(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    # This service never writes 'failed' (a failed transaction leaves no row),
    # but the story's enum has it: such a request may run again.
    cmd = command(ann)
    async with pg_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO ws_idempotency VALUES ($1, $2, 'failed', NULL)", ann, cmd.request_id
        )

    outcome = await use_case(uow_factory).run(cmd)

    assert not outcome.replayed
    assert await written_by(pg_pool, ann) == ONE_ROOM
    assert await rows(pg_pool, "SELECT status::text FROM ws_idempotency") == [
        {"status": "completed"}
    ]


async def test_a_taken_code_is_drawn_again(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    ann, bob = await add_user(pg_pool, "Ann"), await add_user(pg_pool, "Bob")
    taken = await use_case(uow_factory)(command(ann))
    codes = ScriptedCodeGenerator([taken.code])

    outcome = await use_case(uow_factory, codes).run(command(bob))

    assert outcome.code_draws == 2
    assert outcome.result.code != taken.code
    assert await written_by(pg_pool, bob) == ONE_ROOM
    codes_in_db = await rows(pg_pool, "SELECT code FROM rooms")
    assert sorted(r["code"] for r in codes_in_db) == sorted([taken.code, outcome.result.code])


@pytest.mark.parametrize(
    "holder_commits", [True, False], ids=["holder-commits", "holder-rolls-back"]
)
async def test_a_code_inserted_concurrently_is_settled_inside_the_transaction(
    database_url: str,
    pg_pool: asyncpg.Pool[asyncpg.Record],
    extra_pools: list[asyncpg.Pool[asyncpg.Record]],
    holder_commits: bool,
) -> None:
    # A lock_timeout long enough for the test to see the wait, whatever the machine.
    settings = PoolSettings(lock_timeout_ms=60_000)
    pool = await create_pool(database_url, settings)
    extra_pools.append(pool)
    factory = PostgresUnitOfWorkFactory(pool, settings)
    ann, bob = await add_user(pool, "Ann"), await add_user(pool, "Bob")
    code = random_code()

    async with factory() as holder:
        # Uncommitted: a SELECT from another transaction could not see this code.
        assert await holder.rooms.add_if_code_free(new_room(ann, code))
        creating = asyncio.create_task(
            use_case(factory, ScriptedCodeGenerator([code])).run(command(bob))
        )
        await wait_until_blocked_on_a_lock(pg_pool)
        if holder_commits:
            await holder.commit()

    outcome = await creating
    if holder_commits:
        assert (outcome.code_draws, outcome.result.code != code) == (2, True)
    else:
        assert (outcome.code_draws, outcome.result.code) == (1, code)
    assert await written_by(pg_pool, bob) == ONE_ROOM


async def test_a_code_held_longer_than_lock_timeout_is_unavailable_and_writes_nothing(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    ann, bob = await add_user(pg_pool, "Ann"), await add_user(pg_pool, "Bob")
    code = random_code()
    async with uow_factory() as holder:
        assert await holder.rooms.add_if_code_free(new_room(ann, code))
        with pytest.raises(StoreUnavailable):
            await use_case(uow_factory, ScriptedCodeGenerator([code]))(command(bob))
    assert await written_by(pg_pool, bob) == NOTHING


async def test_exhausted_draws_persist_nothing(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    ann, bob = await add_user(pg_pool, "Ann"), await add_user(pg_pool, "Bob")
    taken = await use_case(uow_factory)(command(ann))
    codes = ScriptedCodeGenerator([taken.code] * 3)

    with pytest.raises(CodeSpaceExhausted):
        await use_case(uow_factory, codes, max_code_draws=3)(command(bob))

    assert codes.drawn == 3
    assert await written_by(pg_pool, bob) == NOTHING


async def test_an_unknown_user_is_refused_and_nothing_is_written(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    ghost = UserId(uuid.uuid4())
    with pytest.raises(UnknownUser):
        await use_case(uow_factory)(command(ghost))
    assert await written_by(pg_pool, ghost) == NOTHING


async def test_a_session_killed_mid_transaction_leaves_nothing_and_the_retry_creates_once(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    cmd = command(ann)
    killing = KillAfterRoomInsert(uow_factory, pg_pool)

    with pytest.raises(StoreUnavailable):
        await use_case(killing)(cmd)

    assert killing.killed == 1
    assert await written_by(pg_pool, ann) == NOTHING
    await runs_then_replays(use_case(uow_factory), cmd)
    assert await written_by(pg_pool, ann) == ONE_ROOM


async def test_the_story_steps_run_in_one_transaction_in_the_order_the_use_case_reads(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    # The claim holds the key in_progress (and reads the display name); the
    # room's statement adds the room and its seats and completes the key;
    # only the commit makes any of it visible.
    key = RequestKey(ann, RequestId(uuid.uuid4()))
    room = new_room(ann, random_code())
    reply = StoredReply.success(CreateRoomOk(room.room_id, room.code).to_payload())
    status = "SELECT status::text FROM ws_idempotency WHERE user_id = $1 AND request_id = $2"
    async with uow_factory() as uow:
        conn = uow.rooms._conn  # the Unit of Work's own connection, to look inside it
        assert await uow.idempotency.claim(key, "fp") == Fresh("Ann")
        assert await conn.fetchval(status, *key) == "in_progress"
        assert await uow.rooms.add_if_code_free(room, Completion(key, reply))
        assert await conn.fetchval(status, *key) == "completed"
        assert (
            await conn.fetchval("SELECT count(*) FROM room_seats WHERE room_id = $1", room.room_id)
            == 4
        )
        assert await written_by(pg_pool, ann) == NOTHING  # not committed yet
        await uow.commit()
    assert await written_by(pg_pool, ann) == ONE_ROOM
    async with uow_factory() as uow:
        assert await uow.idempotency.claim(key, "fp") == Replay(reply)


async def test_a_refusal_is_stored_as_failed_and_replayed(
    uow_factory: PostgresUnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    key = RequestKey(ann, RequestId(uuid.uuid4()))
    refusal = StoredReply.refusal(Refusal("the room is full"))
    async with uow_factory() as uow:
        await uow.idempotency.claim(key, "fp")
        await uow.idempotency.complete(Completion(key, refusal))
        await uow.commit()
    # (finished_at_ms, the time the sweep's retention reads: test_housekeeping.py)
    query = "SELECT status::text, response_payload - 'finished_at_ms' AS p FROM ws_idempotency"
    assert await rows(pg_pool, query) == [
        {"status": "failed", "p": {"fingerprint": "fp", "refusal": refusal.payload}}
    ]
    async with uow_factory() as uow:
        assert await uow.idempotency.claim(key, "fp") == Replay(refusal)


async def test_round_trips_per_create(database_url: str, ann: UserId) -> None:
    async with through_a_proxy(database_url) as (proxy, factory):
        create = use_case(factory)
        warm_up = command(ann)
        await create(warm_up)  # statements are prepared once per connection:
        await create(warm_up)  # these two prepare those of a create and of a replay
        proxy.round_trips = 0
        cmd = command(ann)
        await create(cmd)
        fresh = proxy.round_trips
        proxy.round_trips = 0
        await create(cmd)
        replay = proxy.round_trips
    # BEGIN, claim + display name, room + seats + complete, COMMIT.
    assert fresh == 4
    # BEGIN, claim (conflict), read the completed record, ROLLBACK.
    assert replay == 4


async def test_an_unreachable_database_is_store_unavailable(
    database_url: str, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    async with through_a_proxy(database_url) as (proxy, factory):
        create = use_case(factory)
        await create(command(ann))
        await proxy.cut()
        lost = command(ann)
        with pytest.raises(StoreUnavailable):  # the pooled connection is gone
            await create(lost)
        with pytest.raises(StoreUnavailable):  # and no new one can be made
            await create(lost)
    assert await written_by(pg_pool, ann) == ONE_ROOM


async def test_a_database_that_stops_answering_is_store_unavailable(
    database_url: str, pg_pool: asyncpg.Pool[asyncpg.Record], ann: UserId
) -> None:
    settings = PoolSettings(min_size=1, max_size=1, acquire_timeout_s=0.5, command_timeout_s=0.5)
    async with through_a_proxy(database_url, settings) as (proxy, factory):
        create = use_case(factory)
        await create(command(ann))
        proxy.freeze()
        with pytest.raises(StoreUnavailable):
            await create(command(ann))
        with pytest.raises(StoreUnavailable):
            await create(command(ann))
    assert await written_by(pg_pool, ann) == ONE_ROOM


async def test_create_pool_on_an_unreachable_server_is_store_unavailable(
    database_url: str,
) -> None:
    proxy = PostgresProxy(database_url)
    dsn = await proxy.start()
    await proxy.close()
    with pytest.raises(StoreUnavailable):
        await create_pool(dsn, PoolSettings(min_size=1, max_size=1))
