"""The CreateRoom use case with the in-memory adapters: the story's three cases and the rest."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest

from rooms_adapters.memory import (
    MemoryDatabase,
    MemoryLiveStateCache,
    MemoryUnitOfWork,
    MemoryUnitOfWorkFactory,
)
from rooms_domain import (
    CodeSpaceExhausted,
    CreateRoom,
    CreateRoomOk,
    IdempotencyKeyReused,
    LiveRoomView,
    LiveStateFailure,
    Readiness,
    RequestInProgress,
    RequestKey,
    Room,
    RoomCode,
    RoomId,
    RoomSettings,
    RoomStatus,
    ScriptedCodeGenerator,
    Seat,
    SeatStatus,
    StoreUnavailable,
    UnitOfWorkFactory,
    UnknownUser,
    UserId,
    ValidationFailed,
    Visibility,
)
from tests.contracts.support import eventually, new_room
from tests.unit.harness import (
    NOW_MS,
    FixedClock,
    Harness,
    command,
    make_harness,
    new_request_id,
)

USE_CASE_LOGGER = "rooms_domain.create_room"

# A generous bound so that a use case that waits forever fails instead of hanging
# the suite. It bounds failure only; no test asserts how long anything took.
NEVER = 10.0


# --- Story case 1: idempotency -------------------------------------------------------------


async def test_the_same_command_twice_gives_the_identical_result_and_one_room() -> None:
    codes = ScriptedCodeGenerator([])
    h = make_harness(codes=codes)
    user = h.add_user()
    cmd = command(user)

    first = await h.create_room.run(cmd)
    second = await h.create_room.run(cmd)

    assert second.result == first.result
    assert (first.replayed, second.replayed) == (False, True)
    assert list(h.db.rooms) == [first.result.room_id]
    assert list(h.db.idempotency) == [(user, cmd.request_id)]
    assert h.stored_reply(user, cmd.request_id) == first.result
    # A replay writes nothing: no code drawn, no second live view.
    assert codes.drawn == 1
    assert list(h.cache.views) == [first.result.room_id]


async def test_a_replay_returns_the_stored_result_unchanged() -> None:
    """The answer comes from the idempotency record, not from the rooms table."""
    h = make_harness()
    user = h.add_user()
    cmd = command(user)
    first = await h.create_room(cmd)

    assert await h.create_room(cmd) == first
    assert (await h.create_room(cmd)).to_payload() == first.to_payload()


@pytest.mark.parametrize(
    ("first_payload", "second_payload"),
    [
        pytest.param(
            {},
            {"visibility": "private", "max_players": 4, "ruleset_config": {}},
            id="defaults-omitted-then-explicit",
        ),
        pytest.param(
            {"visibility": "private", "max_players": 4, "ruleset_config": {}},
            {},
            id="defaults-explicit-then-omitted",
        ),
        pytest.param(
            {"ruleset_config": {"a": 1, "b": [1, {"y": 2, "x": 1}]}},
            {"ruleset_config": {"b": [1, {"x": 1, "y": 2}], "a": 1}},
            id="config-keys-in-another-order",
        ),
        pytest.param(
            {"visibility": Visibility.PRIVATE},
            {"visibility": "private"},
            id="enum-member-then-its-value",
        ),
    ],
)
async def test_an_equivalent_payload_replays(
    first_payload: dict[str, object], second_payload: dict[str, object]
) -> None:
    h = make_harness()
    user = h.add_user()
    request_id = new_request_id()

    first = await h.create_room.run(command(user, request_id, **first_payload))
    second = await h.create_room.run(command(user, request_id, **second_payload))

    assert second.replayed
    assert second.result == first.result
    assert len(h.db.rooms) == 1


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"max_players": 3}, id="max_players"),
        pytest.param({"ruleset_config": {}}, id="ruleset_config-default"),
        pytest.param({"ruleset_config": {"turn_s": 31}}, id="ruleset_config-value"),
    ],
)
async def test_a_request_id_reused_with_another_payload_is_refused(
    changed: dict[str, object],
) -> None:
    h = make_harness()
    user = h.add_user()
    request_id = new_request_id()
    original: dict[str, object] = {"ruleset_config": {"turn_s": 30}}
    first = await h.create_room(command(user, request_id, **original))
    record = h.db.idempotency[RequestKey(user, request_id)]

    with pytest.raises(IdempotencyKeyReused):
        await h.create_room(command(user, request_id, **{**original, **changed}))

    assert list(h.db.rooms) == [first.room_id]
    assert h.db.idempotency == {(user, request_id): record}
    assert h.db.held_keys == set()
    # The original payload still replays after the refusal.
    assert await h.create_room(command(user, request_id, **original)) == first


async def test_different_users_may_use_the_same_request_id() -> None:
    h = make_harness()
    ann, bob = h.add_user("Ann"), h.add_user("Bob")
    request_id = new_request_id()

    for_ann = await h.create_room(command(ann, request_id))
    for_bob = await h.create_room(command(bob, request_id, max_players=2))

    assert for_ann.room_id != for_bob.room_id
    assert [r.room_id for r in h.rooms_of(ann)] == [for_ann.room_id]
    assert [r.room_id for r in h.rooms_of(bob)] == [for_bob.room_id]
    assert set(h.db.idempotency) == {(ann, request_id), (bob, request_id)}


async def test_concurrent_copies_of_one_command_create_one_room() -> None:
    h = make_harness(lock_wait_s=NEVER)
    user = h.add_user()
    cmd = command(user)

    outcomes = await asyncio.gather(*(h.create_room.run(cmd) for _ in range(8)))

    assert len({o.result for o in outcomes}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert len(h.db.rooms) == 1
    assert len(h.db.idempotency) == 1


async def test_a_repeat_while_the_first_runs_gets_its_answer_once_it_commits() -> None:
    gate = asyncio.Event()

    class CommitWaitsForTheGate(MemoryUnitOfWork):
        async def commit(self) -> None:
            await gate.wait()
            await super().commit()

    def gated(db: MemoryDatabase) -> UnitOfWorkFactory:
        return lambda: CommitWaitsForTheGate(db)

    h = make_harness(uow_factory=gated, lock_wait_s=NEVER)
    user = h.add_user()
    cmd = command(user)

    first = asyncio.create_task(h.create_room.run(cmd))
    await eventually(lambda: bool(h.db.held_keys))
    repeat = asyncio.create_task(h.create_room.run(cmd))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not repeat.done()  # it waits for the first transaction, it does not run its own
    gate.set()

    first_outcome, repeat_outcome = await asyncio.wait_for(asyncio.gather(first, repeat), NEVER)
    assert repeat_outcome.replayed
    assert repeat_outcome.result == first_outcome.result
    assert len(h.db.rooms) == 1


async def test_a_repeat_while_the_first_holds_the_key_too_long_is_in_progress() -> None:
    h = make_harness(lock_wait_s=0.01)
    user = h.add_user()
    cmd = command(user)

    async with MemoryUnitOfWorkFactory(h.db)() as holder:
        await holder.idempotency.claim(cmd.key, cmd.fingerprint())
        with pytest.raises(RequestInProgress):
            await h.create_room(cmd)

    h.assert_nothing_written()


# --- Story case 2: join code collisions ------------------------------------------------------


async def test_a_taken_code_is_redrawn_and_exactly_one_room_gets_the_new_code() -> None:
    codes = ScriptedCodeGenerator(["AAAAAA", "AAAAAA", "BBBBBB"])
    h = make_harness(codes=codes)
    ann, bob = h.add_user("Ann"), h.add_user("Bob")
    taken = await h.create_room(command(ann))
    assert taken.code == "AAAAAA"

    cmd = command(bob)

    outcome = await h.create_room.run(cmd)

    assert outcome.code_draws == 2
    assert outcome.result.code == "BBBBBB"
    assert codes.drawn == 3
    bobs = h.rooms_of(bob)
    assert [(r.room_id, r.code) for r in bobs] == [(outcome.result.room_id, "BBBBBB")]
    assert sorted(r.code for r in h.db.rooms.values()) == ["AAAAAA", "BBBBBB"]
    assert h.stored_reply(bob, cmd.request_id) == outcome.result
    assert h.cache.views[outcome.result.room_id].meta["code"] == "BBBBBB"


async def test_a_code_held_by_another_open_transaction_is_redrawn() -> None:
    h = make_harness(codes=ScriptedCodeGenerator(["CCCCCC", "DDDDDD"]))
    ann, bob = h.add_user("Ann"), h.add_user("Bob")

    async with MemoryUnitOfWorkFactory(h.db)() as other:
        assert await other.rooms.add_if_code_free(new_room(ann, "CCCCCC"))
        outcome = await h.create_room.run(command(bob))

    assert outcome.code_draws == 2
    assert outcome.result.code == "DDDDDD"
    assert [r.code for r in h.db.rooms.values()] == ["DDDDDD"]


async def test_the_last_allowed_draw_may_still_succeed() -> None:
    codes = ScriptedCodeGenerator(["AAAAAA", "BBBBBB", "AAAAAA", "BBBBBB", "CCCCCC"])
    h = make_harness(codes=codes, max_code_draws=3)
    user = h.add_user()
    await h.create_room(command(user))
    await h.create_room(command(user))

    outcome = await h.create_room.run(command(user))

    assert outcome.code_draws == 3
    assert outcome.result.code == "CCCCCC"


async def test_all_draws_taken_is_code_space_exhausted_with_nothing_persisted() -> None:
    codes = ScriptedCodeGenerator(["AAAAAA", "AAAAAA", "AAAAAA", "AAAAAA", "BBBBBB"])
    h = make_harness(codes=codes, max_code_draws=3)
    ann, bob = h.add_user("Ann"), h.add_user("Bob")
    existing = await h.create_room(command(ann))
    before_rooms, before_records = dict(h.db.rooms), dict(h.db.idempotency)
    cmd = command(bob)

    with pytest.raises(CodeSpaceExhausted):
        await h.create_room(cmd)

    assert codes.drawn == 1 + 3
    assert h.db.rooms == before_rooms
    assert h.db.idempotency == before_records
    assert list(h.cache.views) == [existing.room_id]
    assert h.db.held_keys == set()
    assert h.db.held_codes == set()
    # No idempotency record was left: the client's retry runs again, and succeeds.
    retried = await h.create_room.run(cmd)
    assert not retried.replayed
    assert retried.result.code == "BBBBBB"


def test_at_least_one_code_draw_is_required() -> None:
    with pytest.raises(ValueError, match="max_code_draws"):
        CreateRoom(
            uow_factory=MemoryUnitOfWorkFactory(),
            codes=ScriptedCodeGenerator([]),
            live_state=MemoryLiveStateCache(),
            clock=FixedClock(),
            max_code_draws=0,
        )


# --- Story case 3: the live-state cache is best effort ---------------------------------------


async def test_a_failing_cache_still_gives_success_with_the_room_persisted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = make_harness()
    h.cache.fail_with = ConnectionError("redis is down")
    await _persisted_and_logged_once(h, caplog, ConnectionError)
    assert h.cache.views == {}


async def test_a_hanging_cache_still_gives_success_with_the_room_persisted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = make_harness(live_state_timeout_s=0.01)
    h.cache.hang = True
    await _persisted_and_logged_once(h, caplog, TimeoutError)


async def test_a_declared_cache_outage_is_one_brief_line_per_room(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # While Redis is down every create lands here: one line naming the room
    # and the adapter's verdict, not a traceback per request.
    h = make_harness()
    h.cache.fail_with = LiveStateFailure("circuit open after a recent failure")
    user = h.add_user()

    with caplog.at_level(logging.WARNING, logger=USE_CASE_LOGGER):
        outcomes = [await h.create_room.run(command(user)) for _ in range(3)]
    results = [o.result for o in outcomes]
    assert all(o.live_state_missed for o in outcomes)  # counted by the metrics
    h.cache.fail_with = None
    assert not (await h.create_room.run(command(user))).live_state_missed

    records = [r for r in caplog.records if r.name == USE_CASE_LOGGER]
    assert [getattr(r, "room_id", None) for r in records] == [str(r.room_id) for r in results]
    for record, result in zip(records, results, strict=True):
        assert record.levelno == logging.WARNING
        assert record.exc_info is None
        assert str(result.room_id) in record.getMessage()
        assert "LiveStateFailure: circuit open" in record.getMessage()


async def test_after_a_cache_failure_a_replay_still_answers() -> None:
    h = make_harness()
    h.cache.fail_with = ConnectionError("redis is down")
    user = h.add_user()
    cmd = command(user)
    first = await h.create_room(cmd)
    h.cache.fail_with = None

    assert await h.create_room(cmd) == first
    assert len(h.db.rooms) == 1


async def test_the_live_view_is_written_only_after_the_commit() -> None:
    h = make_harness()
    seen_committed: list[bool] = []

    class CommitCheckingCache(MemoryLiveStateCache):
        async def room_created(self, room_id: RoomId, view: LiveRoomView) -> None:
            seen_committed.append(room_id in h.db.rooms and len(h.db.idempotency) == 1)
            await super().room_created(room_id, view)

    create_room = CreateRoom(
        uow_factory=MemoryUnitOfWorkFactory(h.db),
        codes=h.codes,
        live_state=CommitCheckingCache(),
        clock=h.clock,
    )
    await create_room(command(h.add_user()))

    assert seen_committed == [True]


async def test_a_healthy_cache_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    h = make_harness()
    with caplog.at_level(logging.DEBUG, logger=USE_CASE_LOGGER):
        await h.create_room(command(h.add_user()))
    assert [r for r in caplog.records if r.name == USE_CASE_LOGGER] == []


# --- Order of the steps, and failures of the durable store -----------------------------------


async def test_validation_happens_before_any_store_is_touched() -> None:
    codes = ScriptedCodeGenerator([])
    h = make_harness(codes=codes)
    user = h.add_user()
    h.db.unavailable = True

    with pytest.raises(ValidationFailed) as failed:
        await h.create_room(command(user, max_players=9))

    assert [p.field for p in failed.value.problems] == ["max_players"]
    assert codes.drawn == 0
    h.db.unavailable = False
    h.assert_nothing_written()


async def test_an_invalid_payload_is_not_recorded_so_its_request_id_stays_free() -> None:
    h = make_harness()
    user = h.add_user()
    request_id = new_request_id()

    with pytest.raises(ValidationFailed):
        await h.create_room(command(user, request_id, ruleset_id="poker"))
    h.assert_nothing_written()

    assert not (await h.create_room.run(command(user, request_id))).replayed


async def test_an_unknown_user_is_refused_and_nothing_is_written() -> None:
    codes = ScriptedCodeGenerator([])
    h = make_harness(codes=codes)
    stranger = UserId(uuid.uuid4())
    cmd = command(stranger)

    with pytest.raises(UnknownUser):
        await h.create_room(cmd)

    assert codes.drawn == 0
    h.assert_nothing_written()
    # The key was not burnt: once the user exists, the same request goes through.
    h.db.add_user(stranger, "Zoë")
    assert not (await h.create_room.run(cmd)).replayed


async def test_an_unavailable_store_propagates_and_nothing_is_written() -> None:
    codes = ScriptedCodeGenerator([])
    h = make_harness(codes=codes)
    user = h.add_user()
    h.db.unavailable = True

    with pytest.raises(StoreUnavailable):
        await h.create_room(command(user))

    assert codes.drawn == 0
    h.db.unavailable = False
    h.assert_nothing_written()


async def test_a_store_lost_at_commit_propagates_and_nothing_is_written() -> None:
    class LosesTheConnectionAtCommit(MemoryUnitOfWork):
        async def commit(self) -> None:
            raise StoreUnavailable("connection lost during commit")

    def failing(db: MemoryDatabase) -> UnitOfWorkFactory:
        return lambda: LosesTheConnectionAtCommit(db)

    h = make_harness(uow_factory=failing)
    user = h.add_user()

    with pytest.raises(StoreUnavailable):
        await h.create_room(command(user))

    h.assert_nothing_written()


# --- What is written ------------------------------------------------------------------------


async def test_the_room_written_has_the_exact_shape_of_a_new_room() -> None:
    h = make_harness()
    user = h.add_user()

    outcome = await h.create_room.run(command(user, max_players=3, ruleset_config={"turn_s": 30}))
    result = outcome.result

    assert result == CreateRoomOk(result.room_id, result.code, seat_index=0, is_host=True)
    assert (outcome.replayed, outcome.code_draws) == (False, 1)
    expected = Room(
        room_id=result.room_id,
        owner_user_id=user,
        code=RoomCode(result.code),
        settings=RoomSettings(Visibility.PRIVATE, 3, "classic", {"turn_s": 30}),
        status=RoomStatus.OPEN,
        version=0,
        seats=(
            Seat(0, SeatStatus.OCCUPIED, user, True, Readiness.NOT_READY),
            Seat(1, SeatStatus.EMPTY, None, False, Readiness.NOT_READY),
            Seat(2, SeatStatus.EMPTY, None, False, Readiness.NOT_READY),
            Seat(3, SeatStatus.EMPTY, None, False, Readiness.NOT_READY),
        ),
    )
    async with MemoryUnitOfWorkFactory(h.db)() as uow:
        assert await uow.rooms.get(result.room_id) == expected


async def test_the_live_view_written_has_every_field_of_the_contract() -> None:
    h = make_harness()
    user = h.add_user("Ann Åström")

    result = await h.create_room(command(user, max_players=3, ruleset_config={"turn_s": 30}))

    view = h.cache.views[result.room_id]
    meta = dict(view.meta)
    assert json.loads(meta.pop("ruleset_config")) == {"turn_s": 30}
    assert meta == {
        "status": "open",
        "visibility": "private",
        "owner_user_id": str(user),
        "code": str(result.code),
        "max_players": "3",
        "ruleset_id": "classic",
        "created_at_ms": str(NOW_MS),
        "version": "0",
    }
    assert set(view.seats) == {"seat:0", "seat:1", "seat:2", "seat:3"}
    assert json.loads(view.seats["seat:0"]) == {
        "user_id": str(user),
        "display_name": "Ann Åström",
        "ready": "not_ready",
        "connected": True,
        "is_host": True,
        "joined_at_ms": NOW_MS,
    }
    assert [view.seats[f"seat:{i}"] for i in (1, 2, 3)] == ["{}", "{}", "{}"]


# --- helpers -------------------------------------------------------------------------------


async def _persisted_and_logged_once(
    h: Harness, caplog: pytest.LogCaptureFixture, cause: type[BaseException]
) -> None:
    """A create despite a sick cache: the room persisted, its reply stored, one log line."""
    user = h.add_user()
    cmd = command(user)

    with caplog.at_level(logging.WARNING, logger=USE_CASE_LOGGER):
        result = await asyncio.wait_for(h.create_room(cmd), NEVER)

    assert result.room_id in h.db.rooms
    assert h.stored_reply(user, cmd.request_id) == result
    _assert_logged_once_for(caplog, result.room_id, cause)


def _assert_logged_once_for(
    caplog: pytest.LogCaptureFixture, room_id: RoomId, cause: type[BaseException]
) -> None:
    records = [r for r in caplog.records if r.name == USE_CASE_LOGGER]
    assert len(records) == 1
    record = records[0]
    assert record.levelno >= logging.WARNING
    assert str(room_id) in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], cause)
