"""serve's sweep loop: rounds every interval, failures logged once per episode, metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid

import pytest
from prometheus_client import REGISTRY

from rooms_adapters.memory import MemoryDatabase, MemoryLiveStateCache, MemoryUnitOfWorkFactory
from rooms_adapters.memory_housekeeping import (
    MemoryClosingTimes,
    MemorySweepStore,
    MemoryViewVersions,
)
from rooms_domain import RoomStatus, SystemClock, UserId
from rooms_domain.housekeeping import Housekeeping, SweepLimits
from rooms_ws.sweep import sweeping
from tests.contracts.support import eventually, new_room, random_code


def _housekeeping(db: MemoryDatabase) -> Housekeeping:
    cache = MemoryLiveStateCache()
    return Housekeeping(
        MemorySweepStore(db),
        MemoryClosingTimes(SystemClock()),
        MemoryViewVersions(cache),
        cache,
        SystemClock(),
        SweepLimits(closed_retention_ms=0),
    )


def _rounds(outcome: str) -> float:
    return REGISTRY.get_sample_value("rooms_sweep_rounds_total", {"outcome": outcome}) or 0.0


async def test_the_loop_runs_a_round_every_interval_until_the_block_ends() -> None:
    db = MemoryUnitOfWorkFactory().db
    owner = UserId(uuid.uuid4())
    db.add_user(owner, "Ann")
    room = dataclasses.replace(new_room(owner, random_code()), status=RoomStatus.CLOSED)
    db.rooms[room.room_id] = room
    acted = _rounds("acted")
    async with sweeping(_housekeeping(db), 0.05) as loop:
        assert loop is not None
        await eventually(lambda: loop.rounds >= 3)
    assert room.room_id not in db.rooms
    assert _rounds("acted") >= acted + 3
    rounds = loop.rounds
    await asyncio.sleep(0.2)
    assert loop.rounds == rounds  # cancelled with the block


async def test_without_housekeeping_nothing_runs() -> None:
    async with sweeping(None, 0.05) as loop:
        assert loop is None


async def test_failures_are_logged_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    db = MemoryDatabase()
    caplog.set_level(logging.INFO, logger="rooms_ws.sweep")
    async with sweeping(_housekeeping(db), 0.02) as loop:
        assert loop is not None
        for unavailable in (True, False, True):
            db.unavailable = unavailable
            await asyncio.sleep(0.2)  # several rounds in each state
    lines = [r.getMessage() for r in caplog.records if r.name == "rooms_ws.sweep"]
    assert [line.split(";")[0] for line in lines] == [
        "sweep: round failed",
        "sweep: rounds succeed again",
        "sweep: round failed",
    ]
