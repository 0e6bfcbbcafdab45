"""The sweep round's own rules, on the in-memory fakes (the ports: test_memory_contracts)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from rooms_adapters.memory import MemoryDatabase, MemoryLiveStateCache
from rooms_adapters.memory_housekeeping import (
    MemoryClosingTimes,
    MemoryRoundPacing,
    MemorySweepRound,
    MemorySweepStore,
    MemoryViewVersions,
)
from rooms_domain import RoomId, RoomStatus, SystemClock, UserId
from rooms_domain.housekeeping import Housekeeping, SweepLimits
from tests.contracts.support import new_room, random_code
from tests.unit.harness import FixedClock


class LockedRooms(MemorySweepRound):
    """As if a request held every room locked: deletes nothing."""

    async def delete_closed(self, room_ids: Sequence[RoomId]) -> list[RoomId]:
        return []


class LockedStore(MemorySweepStore):
    @asynccontextmanager
    async def round(self) -> AsyncIterator[MemorySweepRound | None]:
        yield LockedRooms(self._db)


class BrokenTimes(MemoryClosingTimes):
    async def due(self, room_ids: Sequence[RoomId], retention_ms: int) -> list[RoomId]:
        raise ConnectionError("Redis went away")


def _closed_room(db: MemoryDatabase) -> RoomId:
    owner = UserId(uuid.uuid4())
    db.add_user(owner, "Ann")
    room = dataclasses.replace(new_room(owner, random_code()), status=RoomStatus.CLOSED)
    db.rooms[room.room_id] = room
    return room.room_id


def _sweep(store: MemorySweepStore, times: MemoryClosingTimes) -> Housekeeping:
    cache = MemoryLiveStateCache()
    limits = SweepLimits(closed_retention_ms=0)
    return Housekeeping(store, times, MemoryViewVersions(cache), cache, SystemClock(), limits)


async def test_a_closed_room_skipped_as_locked_keeps_its_closing_time() -> None:
    db, times = MemoryDatabase(), MemoryClosingTimes(SystemClock())
    room_id = _closed_room(db)
    times.closed_at_ms[room_id] = 1
    report = await _sweep(LockedStore(db), times).run_round()
    assert report.tasks[0].done == 0
    assert times.closed_at_ms == {room_id: 1}  # not forgotten: the next pass takes it
    assert room_id in db.rooms


async def test_a_failing_task_leaves_the_others_to_run_and_is_reported() -> None:
    db = MemoryDatabase()
    _closed_room(db)
    report = await _sweep(MemorySweepStore(db), BrokenTimes(SystemClock())).run_round()
    assert [task.name for task in report.failed] == ["closed rooms"]
    assert report.lines()[0] == "closed rooms: failed: ConnectionError: Redis went away"
    assert [task.error for task in report.tasks[1:]] == [None, None]


async def test_rooms_are_counted_at_most_once_a_minute() -> None:
    db = MemoryDatabase()
    sweep = _sweep(MemorySweepStore(db), MemoryClosingTimes(SystemClock()))
    first, second = await sweep.run_round(), await sweep.run_round()
    assert first.rooms_by_status == {"open": 0, "in_game": 0, "closed": 0}
    assert second.rooms_by_status is None


def _three_open_rooms(limits: SweepLimits) -> tuple[Housekeeping, MemoryLiveStateCache, FixedClock]:
    """A sweep (on a clock the test moves) over three open rooms without views."""
    db, clock = MemoryDatabase(), FixedClock()
    owner = UserId(uuid.uuid4())
    db.add_user(owner, "Ann")
    for _ in range(3):
        room = new_room(owner, random_code())
        db.rooms[room.room_id] = room
    cache = MemoryLiveStateCache()
    views, times = MemoryViewVersions(cache), MemoryClosingTimes(clock)
    return Housekeeping(MemorySweepStore(db), times, views, cache, clock, limits), cache, clock


async def test_a_new_pass_of_the_view_repair_waits_for_its_interval() -> None:
    limits = SweepLimits(batch_size=2, batches=1, view_pass_every_ms=10_000)
    sweep, cache, clock = _three_open_rooms(limits)

    async def views_task() -> tuple[int, int]:
        report = (await sweep.run_round()).tasks[2]
        return report.batches, report.examined

    assert await views_task() == (1, 2)  # a pass starts
    clock.now += 1
    assert await views_task() == (1, 1)  # and goes on to its end, whatever the interval
    assert await views_task() == (0, 0)  # the next waits
    cache.views.clear()
    clock.now += 9_998
    assert await views_task() == (0, 0)
    clock.now += 1  # the interval since the last pass started
    assert await views_task() == (1, 2)
    assert len(cache.views) == 2
    # rooms sweep: a whole pass, paced or not.
    whole = await sweep.run_round(whole_view_pass=True)
    assert (whole.tasks[2].batches, whole.tasks[2].examined, whole.tasks[2].done) == (2, 3, 1)


async def test_a_whole_view_pass_is_for_its_round_only() -> None:
    sweep, _, _ = _three_open_rooms(SweepLimits(batch_size=1, batches=1, view_pass_every_ms=0))
    assert (await sweep.run_round(whole_view_pass=True)).tasks[2].examined == 3
    assert (await sweep.run_round()).tasks[2].examined == 1


# --- the cluster's pacing: about one round per interval, whatever the instances ------


class BrokenPacing(MemoryRoundPacing):
    async def claim(self, what: str, every_ms: int) -> bool:
        raise ConnectionError("Redis went away")


def _instances(
    pacing: MemoryRoundPacing, clock: FixedClock, n: int = 2, count_every_ms: int = 60_000
) -> list[Housekeeping]:
    """``n`` instances of one cluster: one database (its one hold), one pacing."""
    db, cache = MemoryDatabase(), MemoryLiveStateCache()
    store, views, times = MemorySweepStore(db), MemoryViewVersions(cache), MemoryClosingTimes(clock)
    limits = SweepLimits(round_every_ms=900, count_every_ms=count_every_ms)
    return [
        Housekeeping(store, times, views, cache, clock, limits, pacing=pacing) for _ in range(n)
    ]


async def test_instances_ticking_apart_make_one_round_per_interval_between_them() -> None:
    clock = FixedClock()
    one, two = _instances(MemoryRoundPacing(clock), clock)
    acted: list[str] = []
    for _ in range(10):  # ten 1 s intervals, each instance ticking once, half a second apart
        for name, instance in (("one", one), ("two", two)):
            report = await instance.run_round()
            if report.acted:
                acted.append(name)
            else:
                assert report.swept_recently
                assert report.lines() == ["another instance swept recently: nothing done"]
            clock.now += 500
    assert acted == ["one"] * 10


async def test_rooms_are_counted_once_per_interval_for_the_cluster() -> None:
    clock = FixedClock()
    one, two = _instances(MemoryRoundPacing(clock), clock, count_every_ms=5_000)
    counted = []
    for _ in range(10):  # each instance acts every other second
        for instance in (one, two):
            report = await instance.run_round()
            assert report.acted
            counted.append(report.rooms_by_status is not None)
            clock.now += 1_000
    assert counted == [True, False, False, False, False] * 4


async def test_rooms_sweep_acts_however_recent_the_clusters_round() -> None:
    clock = FixedClock()
    one, cli = _instances(MemoryRoundPacing(clock), clock)
    assert (await one.run_round()).acted
    on_demand = await cli.run_round(whole_view_pass=True, paced=False)
    assert on_demand.acted
    assert on_demand.rooms_by_status is not None  # it counts too
    assert not (await one.run_round()).acted  # and the serving instances' pacing holds


async def test_rounds_act_when_the_pacing_cannot_answer() -> None:
    clock = FixedClock()
    one, two = _instances(BrokenPacing(clock), clock)
    first, second = await one.run_round(), await two.run_round()
    assert first.acted and second.acted
    assert first.rooms_by_status is not None and second.rooms_by_status is not None
    # Each process's own count pacing still holds without the cluster's.
    assert (await one.run_round()).rooms_by_status is None
