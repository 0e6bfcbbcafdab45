"""Contract of the sweep's ports and of a round.

The ports: SweepStore, ClosingTimes, ViewVersions, RoundPacing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable

import pytest

from rooms_domain import (
    Completion,
    CreateRoom,
    CreateRoomCommand,
    CreateRoomOk,
    Fresh,
    LiveRoomView,
    LiveStateCache,
    RequestKey,
    Room,
    RoomId,
    RoomSettings,
    RoomStatus,
    ScriptedCodeGenerator,
    StoredReply,
    SystemClock,
    UnitOfWorkFactory,
    UserId,
    Visibility,
)
from rooms_domain.housekeeping import (
    ClosingTimes,
    Housekeeping,
    RoundPacing,
    SweepLimits,
    SweepStore,
    ViewVersions,
)
from tests.contracts.support import MakeUser, new_request_id, new_room, random_code

DAY_MS = 86_400_000

MakeSweep = Callable[[SweepLimits], Housekeeping]


async def add_rooms(
    uow_factory: UnitOfWorkFactory, owner: UserId, statuses: list[RoomStatus], version: int = 0
) -> list[Room]:
    rooms = [
        dataclasses.replace(new_room(owner, random_code()), status=status, version=version)
        for status in statuses
    ]
    async with uow_factory() as uow:
        for room in rooms:
            assert await uow.rooms.add_if_code_free(room)
        await uow.commit()
    return rooms


async def finished_key(uow_factory: UnitOfWorkFactory, user: UserId) -> RequestKey:
    key = RequestKey(user, new_request_id())
    async with uow_factory() as uow:
        assert isinstance(await uow.idempotency.claim(key, "fp"), Fresh)
        await uow.idempotency.complete(Completion(key, StoredReply.success({"ok": 1})))
        await uow.commit()
    return key


async def assert_one_round_at_a_time(one: SweepStore, other: SweepStore) -> None:
    """While ``one`` holds its round, ``other`` gets none; once it ends, ``other`` gets one."""
    async with one.round() as acting:
        assert acting is not None
        async with other.round() as refused:
            assert refused is None
    async with other.round() as now_free:
        assert now_free is not None


class HousekeepingContract:
    """Needs fixtures ``uow_factory``, ``make_user``, ``sweep_store``, ``closing_times``,
    ``view_versions``, ``round_pacing`` and ``live_state`` (the cache ``view_versions`` reads)."""

    @pytest.fixture
    async def owner(self, make_user: MakeUser) -> UserId:
        return await make_user("Ann")

    @pytest.fixture
    def make_sweep(
        self,
        sweep_store: SweepStore,
        closing_times: ClosingTimes,
        view_versions: ViewVersions,
        live_state: LiveStateCache,
    ) -> MakeSweep:
        def make(limits: SweepLimits) -> Housekeeping:
            return Housekeeping(
                sweep_store, closing_times, view_versions, live_state, SystemClock(), limits
            )

        return make

    async def test_a_claim_holds_for_its_interval_then_the_next_one_wins(
        self, round_pacing: RoundPacing
    ) -> None:
        what = f"round-{uuid.uuid4().hex[:8]}"
        assert await round_pacing.claim(what, 200)
        assert not await round_pacing.claim(what, 200)
        assert await round_pacing.claim(f"{what}-other", 200)  # each paced thing its own
        await asyncio.sleep(0.25)  # the claim's interval past: waiting, not timing
        assert await round_pacing.claim(what, 200)
        assert not await round_pacing.claim(what, 200)

    async def test_of_claims_made_at_once_one_wins(self, round_pacing: RoundPacing) -> None:
        what = f"round-{uuid.uuid4().hex[:8]}"
        won = await asyncio.gather(*(round_pacing.claim(what, 60_000) for _ in range(10)))
        assert sorted(won) == [False] * 9 + [True]

    async def test_one_round_at_a_time(self, sweep_store: SweepStore) -> None:
        await assert_one_round_at_a_time(sweep_store, sweep_store)

    async def test_closed_rooms_come_in_bounded_slices_to_the_end(
        self, uow_factory: UnitOfWorkFactory, owner: UserId, sweep_store: SweepStore
    ) -> None:
        o, c, g = RoomStatus.OPEN, RoomStatus.CLOSED, RoomStatus.IN_GAME
        rooms = await add_rooms(uow_factory, owner, [c, o, c, g, c])
        seen: list[RoomId] = []
        slices = 0
        async with sweep_store.round() as sweep:
            assert sweep is not None
            after = None
            while True:
                found = await sweep.closed_rooms(after, 2)
                slices += 1
                assert len(found.closed) <= 2
                seen.extend(found.closed)
                if found.next_after is None:
                    break
                after = found.next_after
        assert sorted(seen) == sorted(r.room_id for r in rooms if r.status is c)
        assert slices == 3

    async def test_deleting_takes_only_closed_rooms_and_frees_their_codes(
        self, uow_factory: UnitOfWorkFactory, owner: UserId, sweep_store: SweepStore
    ) -> None:
        closed, open_ = await add_rooms(uow_factory, owner, [RoomStatus.CLOSED, RoomStatus.OPEN])
        async with sweep_store.round() as sweep:
            assert sweep is not None
            assert await sweep.delete_closed([closed.room_id, open_.room_id]) == [closed.room_id]
            assert await sweep.delete_closed([closed.room_id]) == []
        async with uow_factory() as uow:
            assert await uow.rooms.get(closed.room_id) is None
            assert not await uow.rooms.code_taken(closed.code)
            assert await uow.rooms.get(open_.room_id) == open_

    async def test_live_versions_are_the_open_and_in_game_ones_in_bounded_slices(
        self, uow_factory: UnitOfWorkFactory, owner: UserId, sweep_store: SweepStore
    ) -> None:
        o, c, g = RoomStatus.OPEN, RoomStatus.CLOSED, RoomStatus.IN_GAME
        rooms = await add_rooms(uow_factory, owner, [o, c, g, c, o], version=3)
        seen: list[tuple[RoomId, int]] = []
        slices, after = 0, None
        async with sweep_store.round() as sweep:
            assert sweep is not None
            while True:
                found = await sweep.live_versions(after, 2)
                slices += 1
                seen.extend(found.versions)
                if found.next_after is None:
                    break
                after = found.next_after
        assert sorted(seen) == sorted((r.room_id, 3) for r in rooms if r.status is not c)
        assert slices == 3

    async def test_live_rooms_are_loaded_with_their_names_the_closed_and_gone_left_out(
        self, uow_factory: UnitOfWorkFactory, owner: UserId, sweep_store: SweepStore
    ) -> None:
        o, c, g = RoomStatus.OPEN, RoomStatus.CLOSED, RoomStatus.IN_GAME
        rooms = await add_rooms(uow_factory, owner, [o, c, g])
        gone = new_room(owner, random_code()).room_id
        async with sweep_store.round() as sweep:
            assert sweep is not None
            loaded = await sweep.load_live([r.room_id for r in rooms] + [gone])
        assert sorted(live.room.room_id for live in loaded) == sorted(
            r.room_id for r in rooms if r.status is not c
        )
        for live in loaded:
            assert live.room in rooms
            assert dict(live.display_names) == {owner: "Ann"}

    async def test_finished_rows_past_retention_go_and_running_ones_stay(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser, sweep_store: SweepStore
    ) -> None:
        user = await make_user("Ann")
        done = await finished_key(uow_factory, user)
        running = RequestKey(user, new_request_id())
        async with uow_factory() as holder:
            assert isinstance(await holder.idempotency.claim(running, "fp"), Fresh)
            async with sweep_store.round() as sweep:
                assert sweep is not None
                kept = await sweep.purge_finished(None, 100, DAY_MS)
                assert (kept.deleted, kept.next_after) == (0, None)
                purged = await sweep.purge_finished(None, 100, 0)
                assert purged.deleted == 1
            # The request still runs, and finishes as if nothing happened.
            await holder.idempotency.complete(Completion(running, StoredReply.success({"a": 1})))
            await holder.commit()
        async with uow_factory() as uow:
            # The purged key: a retry is a new request. The running one: a replay.
            assert isinstance(await uow.idempotency.claim(done, "fp"), Fresh)
            replay = await uow.idempotency.claim(running, "fp")
            assert not isinstance(replay, Fresh)

    async def test_purging_walks_the_keys_in_bounded_slices(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser, sweep_store: SweepStore
    ) -> None:
        user = await make_user("Ann")
        for _ in range(5):
            await finished_key(uow_factory, user)
        deleted, slices, after = 0, 0, None
        async with sweep_store.round() as sweep:
            assert sweep is not None
            while True:
                found = await sweep.purge_finished(after, 2, 0)
                slices += 1
                assert found.deleted <= 2
                deleted += found.deleted
                if found.next_after is None:
                    break
                after = found.next_after
        assert (deleted, slices) == (5, 3)

    async def test_rooms_are_counted_by_status(
        self, uow_factory: UnitOfWorkFactory, owner: UserId, sweep_store: SweepStore
    ) -> None:
        o, c = RoomStatus.OPEN, RoomStatus.CLOSED
        await add_rooms(uow_factory, owner, [o, c, c])
        async with sweep_store.round() as sweep:
            assert sweep is not None
            assert await sweep.count_by_status() == {"open": 1, "in_game": 0, "closed": 2}

    async def test_a_closing_time_unknown_counts_from_the_first_sighting(
        self, closing_times: ClosingTimes
    ) -> None:
        room_id = new_room(UserId(uuid.uuid4()), random_code()).room_id
        assert await closing_times.due([room_id], DAY_MS) == []
        await asyncio.sleep(0.05)
        # Counted from the first call, not from this one.
        assert await closing_times.due([room_id], 20) == [room_id]
        assert await closing_times.due([room_id], DAY_MS) == []

    async def test_view_versions_are_read_in_one_call(
        self, live_state: LiveStateCache, view_versions: ViewVersions, owner: UserId
    ) -> None:
        room, other = new_room(owner, random_code()), new_room(owner, random_code())
        view = LiveRoomView.of_new_room(room, host_display_name="Ann", created_at_ms=1)
        await live_state.room_created(room.room_id, view)
        assert await view_versions.versions([room.room_id, other.room_id]) == [room.version, None]

    async def test_a_round_deletes_closed_rooms_then_their_codes_are_drawn_again(
        self,
        uow_factory: UnitOfWorkFactory,
        owner: UserId,
        make_sweep: MakeSweep,
        live_state: LiveStateCache,
    ) -> None:
        rooms = await add_rooms(uow_factory, owner, [RoomStatus.CLOSED] * 5)
        limits = SweepLimits(batch_size=2, batches=2, closed_retention_ms=0)
        sweep = make_sweep(limits)
        first = await sweep.run_round()
        assert first.acted and not first.failed
        closed = first.tasks[0]
        # Two batches of at most two rooms: four deleted, the fifth next round.
        assert (closed.name, closed.done, closed.batches) == ("closed rooms", 4, 2)
        second = await sweep.run_round()
        assert second.tasks[0].done == 1
        create = CreateRoom(
            uow_factory=uow_factory,
            codes=ScriptedCodeGenerator([str(rooms[0].code)]),
            live_state=live_state,
            clock=SystemClock(),
        )
        settings = RoomSettings(Visibility.PRIVATE, 4, "classic", {})
        made = await create(CreateRoomCommand(owner, new_request_id(), settings))
        assert isinstance(made, CreateRoomOk)
        assert made.code == rooms[0].code

    async def test_a_round_keeps_closed_rooms_until_their_retention(
        self, uow_factory: UnitOfWorkFactory, owner: UserId, make_sweep: MakeSweep
    ) -> None:
        (room,) = await add_rooms(uow_factory, owner, [RoomStatus.CLOSED])
        sweep = make_sweep(SweepLimits())
        report = await sweep.run_round()
        assert (report.tasks[0].done, report.tasks[0].waiting) == (0, 1)
        async with uow_factory() as uow:
            assert await uow.rooms.get(room.room_id) == room

    async def test_a_round_rebuilds_missing_and_stale_views_only(
        self,
        uow_factory: UnitOfWorkFactory,
        owner: UserId,
        make_sweep: MakeSweep,
        live_state: LiveStateCache,
    ) -> None:
        missing, stale, current = await add_rooms(uow_factory, owner, [RoomStatus.OPEN] * 3, 2)
        older = dataclasses.replace(stale, version=1)
        for room in (older, current):
            view = LiveRoomView.of_new_room(room, host_display_name="Ann", created_at_ms=1)
            await live_state.room_created(room.room_id, view)
        sweep = make_sweep(SweepLimits())
        report = await sweep.run_round()
        views = report.tasks[2]
        assert (views.name, views.done, views.examined) == ("live views", 2, 3)
        for room in (missing, stale, current):
            rebuilt = await live_state.read(room.room_id)
            assert rebuilt is not None
            assert rebuilt.version == room.version
            assert rebuilt.meta["code"] == str(room.code)
        # A whole pass again (a paced one would not even look): all current now.
        again = await sweep.run_round(whole_view_pass=True)
        assert (again.tasks[2].done, again.tasks[2].examined) == (0, 3)

    async def test_a_newer_view_is_left_alone(
        self,
        uow_factory: UnitOfWorkFactory,
        owner: UserId,
        make_sweep: MakeSweep,
        live_state: LiveStateCache,
    ) -> None:
        (room,) = await add_rooms(uow_factory, owner, [RoomStatus.OPEN], 2)
        newer = dataclasses.replace(room, version=5)
        view = LiveRoomView.of_new_room(newer, host_display_name="Ann", created_at_ms=1)
        await live_state.room_created(room.room_id, view)
        report = await make_sweep(SweepLimits()).run_round(whole_view_pass=True)
        assert (report.tasks[2].done, report.tasks[2].examined) == (0, 1)
        assert await live_state.read(room.room_id) == view

    async def test_a_whole_view_pass_goes_past_the_rounds_batches_to_the_end(
        self,
        uow_factory: UnitOfWorkFactory,
        owner: UserId,
        make_sweep: MakeSweep,
        live_state: LiveStateCache,
    ) -> None:
        rooms = await add_rooms(uow_factory, owner, [RoomStatus.OPEN] * 5)
        sweep = make_sweep(SweepLimits(batch_size=2, batches=1))
        bounded = await sweep.run_round()
        assert (bounded.tasks[2].batches, bounded.tasks[2].done) == (1, 2)
        whole = await make_sweep(SweepLimits(batch_size=2, batches=1)).run_round(
            whole_view_pass=True
        )
        # Each batch still examines at most two rooms: three of them.
        assert (whole.tasks[2].batches, whole.tasks[2].examined) == (3, 5)
        assert whole.tasks[2].done == 3
        for room in rooms:
            assert await live_state.read(room.room_id) is not None
