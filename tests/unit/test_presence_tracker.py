"""PresenceTracker: one Redis step per transition of a (room, user) on this instance,
failed steps set right at the next beat, dead instances' users disconnected by the beat,
and an instance that was counted dead announcing again what it follows."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from rooms_adapters.memory import MemoryLiveStateCache
from rooms_adapters.memory_presence import MemoryPresence
from rooms_adapters.redis_errors import LiveStateUnavailable
from rooms_domain import RoomId, UserId
from rooms_domain.use_cases.release_seats import Released
from rooms_ws.metrics import SEATS_RELEASED, count_released
from rooms_ws.metrics_adapters import AdapterCollector, AdapterSources
from rooms_ws.presence import PresenceTracker
from tests.contracts.presence import T0, a_room
from tests.unit.harness import FixedClock

TIMEOUT_S = 3.0


class Setup:
    def __init__(self) -> None:
        self.cache = MemoryLiveStateCache()
        self.presence = MemoryPresence(self.cache, timeout_s=TIMEOUT_S)
        self.clock = FixedClock(T0)
        self.tracker = PresenceTracker(
            self.presence, self.clock, timeout_s=TIMEOUT_S, instance="here"
        )

    def connected(self, room_id: RoomId, index: int) -> bool:
        seat = json.loads(self.cache.views[room_id].seats[f"seat:{index}"])
        return bool(seat["connected"])

    def events(self) -> list[str]:
        return [str(frame["type"]) for _, frame in self.cache.published]


async def test_only_the_first_and_the_last_socket_reach_presence() -> None:
    s = Setup()
    room_id, _, bob = await a_room(s.cache)
    await s.tracker.tick()
    await s.tracker.followed(room_id, bob)
    await s.tracker.followed(room_id, bob)
    assert s.tracker.connected_users == 1
    await s.tracker.unfollowed(room_id, bob)
    assert s.connected(room_id, 1) and s.events() == []
    await s.tracker.unfollowed(room_id, bob)
    assert not s.connected(room_id, 1) and s.events() == ["player_disconnected"]
    assert s.tracker.connected_users == 0
    await s.tracker.followed(room_id, bob)
    assert s.connected(room_id, 1) and s.events()[-1] == "player_reconnected"


async def test_a_step_that_failed_is_set_right_at_the_next_beat() -> None:
    s = Setup()
    room_id, _, bob = await a_room(s.cache)
    await s.tracker.tick()
    await s.tracker.followed(room_id, bob)
    s.presence.fail_with = LiveStateUnavailable("down")
    await s.tracker.unfollowed(room_id, bob)  # no exception: the request goes on
    assert s.connected(room_id, 1)
    await s.tracker.tick()  # still down
    s.presence.fail_with = None
    await s.tracker.tick()
    assert not s.connected(room_id, 1)
    assert await s.presence.is_held(room_id, bob)


async def test_the_beat_disconnects_the_users_of_a_dead_instance() -> None:
    s = Setup()
    room_id, ann, _ = await a_room(s.cache)
    await s.presence.beat("dead", T0)
    await s.presence.connect(room_id, ann, "dead", T0)
    s.clock.now = T0 + int(TIMEOUT_S * 1000)
    await s.tracker.tick()
    assert not s.connected(room_id, 0)
    assert s.tracker.held_seats == 1


async def test_an_instance_counted_dead_announces_again_what_it_follows() -> None:
    s = Setup()
    room_id, ann, _ = await a_room(s.cache)
    await s.tracker.tick()
    await s.tracker.followed(room_id, ann)
    # Frozen for longer than the timeout: another instance dropped its entries.
    s.clock.now = T0 + int(TIMEOUT_S * 1000)
    await s.presence.beat("other", s.clock.now)
    await s.presence.expire_instances(s.clock.now, 100)
    assert not s.connected(room_id, 0)
    await s.tracker.tick()
    assert s.connected(room_id, 0)
    assert s.events() == ["player_disconnected", "player_reconnected"]


async def test_start_beats_at_once_and_close_stops_the_beat() -> None:
    s = Setup()
    await s.tracker.start()
    try:
        assert "here" in s.presence.beats
    finally:
        await s.tracker.close()
    await s.tracker.close()  # twice is harmless


async def test_presence_metrics() -> None:
    s = Setup()
    room_id, ann, _ = await a_room(s.cache)
    await s.tracker.followed(room_id, ann)
    collector = AdapterCollector()
    collector.sources = AdapterSources.of(
        live_state=s.cache, events=None, uow_factory=None, presence=s.tracker
    )
    samples = {m.name: m.samples[0].value for m in collector.collect()}
    assert samples == {"rooms_presence_connected": 1.0, "rooms_presence_held_seats": 0.0}
    before = SEATS_RELEASED.labels("timeout")._value.get()
    count_released([Released(room_id, ann, 0)])
    assert SEATS_RELEASED.labels("timeout")._value.get() == before + 1


class _Gated(MemoryPresence):
    """Holds every connect/disconnect until the gate opens; counts how many wait at once."""

    def __init__(self, cache: MemoryLiveStateCache) -> None:
        super().__init__(cache, timeout_s=TIMEOUT_S)
        self.gate = asyncio.Event()
        self.waiting = 0
        self.most_waiting = 0

    async def connect(self, room_id: RoomId, user_id: UserId, instance: str, now_ms: int) -> bool:
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        await self.gate.wait()
        self.waiting -= 1
        return await super().connect(room_id, user_id, instance, now_ms)


async def test_a_burst_of_transitions_reaches_presence_a_few_at_a_time() -> None:
    s = Setup()
    gated = _Gated(s.cache)
    tracker = PresenceTracker(gated, s.clock, timeout_s=TIMEOUT_S, instance="here", max_in_flight=4)
    rooms = [await a_room(s.cache) for _ in range(20)]
    burst = asyncio.gather(*(tracker.followed(room_id, ann) for room_id, ann, _ in rooms))
    for _ in range(5):
        await asyncio.sleep(0)
    assert gated.most_waiting == 4
    gated.gate.set()
    await burst
    assert gated.most_waiting == 4
    assert all(s.connected(room_id, 0) for room_id, _, _ in rooms)


async def test_failed_steps_warn_once_until_one_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    s = Setup()
    rooms = [await a_room(s.cache) for _ in range(3)]
    await s.tracker.tick()
    s.presence.fail_with = LiveStateUnavailable("down")
    with caplog.at_level(logging.INFO, logger="rooms_ws.presence"):
        for room_id, ann, _ in rooms[:2]:
            await s.tracker.followed(room_id, ann)
        s.presence.fail_with = None
        await s.tracker.followed(*rooms[2][:2])
        s.presence.fail_with = LiveStateUnavailable("down again")
        await s.tracker.unfollowed(*rooms[2][:2])
    levels = [r.levelname for r in caplog.records if r.name == "rooms_ws.presence"]
    assert levels == ["WARNING", "INFO", "WARNING"]


async def test_a_followed_pair_holds_no_lock_between_steps() -> None:
    # 10,000 idle followers held 10,000 asyncio.Locks (~0.4 KiB each) for nothing.
    s = Setup()
    gated = _Gated(s.cache)
    tracker = PresenceTracker(gated, s.clock, timeout_s=TIMEOUT_S, instance="here")
    room_id, ann, _ = await a_room(s.cache)
    first = asyncio.ensure_future(tracker.followed(room_id, ann))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(tracker.unfollowed(room_id, ann))
    third = asyncio.ensure_future(tracker.followed(room_id, ann))
    await asyncio.sleep(0)
    assert len(tracker._locks) == 1  # the three steps of the pair, one after the other
    gated.gate.set()
    await asyncio.gather(first, second, third)
    assert s.connected(room_id, 0)
    assert tracker._locks == {}
