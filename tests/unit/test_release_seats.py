"""ReleaseExpiredSeats on the in-memory adapters: a held seat that ran out is
released as by leave_room with reason timeout, only while the room is open,
exactly once however many instances run the step at once."""

from __future__ import annotations

import asyncio

import pytest

from rooms_adapters.memory import MemoryUnitOfWorkFactory
from rooms_adapters.redis_errors import LiveStateUnavailable
from rooms_domain import RoomId, RoomStatus, UserId
from rooms_domain.commands import LeaveRoomCommand, SetReadyCommand, StartGameCommand
from rooms_domain.use_cases.release_seats import Released, ReleaseExpiredSeats
from tests.unit.harness import FixedClock
from tests.unit.test_lobby_use_cases import Lobby, join, make_lobby, on_room

HOLD_S = 2.0
INSTANCE = "a"


class Setup:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.lobby: Lobby = make_lobby(presence_timeout_s=3.0, clock=self.clock)
        self.presence = self.lobby.presence

    def step(self) -> ReleaseExpiredSeats:
        return ReleaseExpiredSeats(
            uow_factory=MemoryUnitOfWorkFactory(self.lobby.db),
            live_state=self.lobby.cache,
            presence=self.presence,
            clock=self.clock,
            hold_s=HOLD_S,
        )

    async def room_of(self, *names: str) -> tuple[RoomId, list[UserId]]:
        users = [self.lobby.user(name) for name in names]
        room_id, code = await self.lobby.room(users[0])
        for user in users[1:]:
            await self.lobby.join(join(user, code))
        await self.presence.beat(INSTANCE, self.clock.now)
        for user in users:
            await self.presence.connect(room_id, user, INSTANCE, self.clock.now)
        return room_id, users

    async def gone(self, room_id: RoomId, user: UserId) -> None:
        await self.presence.disconnect(room_id, user, INSTANCE, self.clock.now)

    def later(self, seconds: float) -> None:
        self.clock.now += int(seconds * 1000)

    def left_events(self) -> list[dict[str, object]]:
        return [
            frame["payload"]  # type: ignore[misc]
            for _, frame in self.lobby.cache.published
            if frame["type"] == "player_left"
        ]


async def test_a_seat_held_past_the_hold_is_released_with_reason_timeout() -> None:
    s = Setup()
    room_id, (_, bob) = await s.room_of("Ann", "Bob")
    await s.gone(room_id, bob)
    s.later(HOLD_S - 0.5)
    assert await s.step()() == []
    s.later(0.5)
    assert await s.step()() == [Released(room_id, bob, 1)]
    room = s.lobby.db.rooms[room_id]
    assert room.seat_of(bob) is None and room.version == 2
    assert [e["reason"] for e in s.left_events()] == ["timeout"]
    assert not await s.presence.is_held(room_id, bob)
    view = s.lobby.cache.views[room_id]
    assert view.version == 2 and view.seats["seat:1"] == "{}"
    assert await s.step()() == []


async def test_the_hosts_release_passes_the_host_on() -> None:
    s = Setup()
    room_id, (ann, _) = await s.room_of("Ann", "Bob")
    await s.gone(room_id, ann)
    s.later(HOLD_S)
    await s.step()()
    assert s.lobby.db.rooms[room_id].host_seat == 1
    assert "host_changed" in s.lobby.events()


async def test_the_last_players_release_closes_the_room() -> None:
    s = Setup()
    room_id, (ann,) = await s.room_of("Ann")
    await s.gone(room_id, ann)
    s.later(HOLD_S)
    assert len(await s.step()()) == 1
    assert s.lobby.db.rooms[room_id].status is RoomStatus.CLOSED
    assert s.lobby.events()[-2:] == ["player_left", "room_closed"]


async def test_a_user_back_in_time_keeps_the_seat() -> None:
    s = Setup()
    room_id, (_, bob) = await s.room_of("Ann", "Bob")
    await s.gone(room_id, bob)
    s.later(1)
    assert await s.presence.connect(room_id, bob, "b", s.clock.now)
    s.later(HOLD_S)
    assert await s.step()() == []
    assert s.lobby.db.rooms[room_id].seat_of(bob) is not None
    assert s.left_events() == []


async def test_in_game_the_seat_stays_held() -> None:
    s = Setup()
    room_id, (ann, bob) = await s.room_of("Ann", "Bob")
    for user in (ann, bob):
        await s.lobby.ready(on_room(SetReadyCommand, user, room_id, ready=True))
    await s.lobby.start(on_room(StartGameCommand, ann, room_id))
    await s.gone(room_id, bob)
    s.later(HOLD_S)
    assert await s.step()() == []
    assert s.lobby.db.rooms[room_id].seat_of(bob) is not None
    assert await s.presence.is_held(room_id, bob)
    # Looked at again a hold later, not at every round meanwhile.
    assert await s.presence.held(s.clock.now - 1, 10) == []


async def test_a_seat_given_up_meanwhile_is_only_forgotten() -> None:
    s = Setup()
    room_id, (_, bob) = await s.room_of("Ann", "Bob")
    await s.gone(room_id, bob)
    await s.lobby.leave(on_room(LeaveRoomCommand, bob, room_id))
    s.later(HOLD_S)
    assert await s.step()() == []
    assert [e["reason"] for e in s.left_events()] == ["left"]
    assert not await s.presence.is_held(room_id, bob)


async def test_many_instances_at_once_release_each_seat_exactly_once() -> None:
    s = Setup()
    rooms = [await s.room_of("Ann", "Bob", "Cy") for _ in range(3)]
    for room_id, users in rooms:
        for user in users[1:]:
            await s.gone(room_id, user)
    s.later(HOLD_S)
    results = await asyncio.gather(*(s.step()() for _ in range(6)))
    released = [one for result in results for one in result]
    assert sorted((r.room_id, r.seat_index) for r in released) == sorted(
        (room_id, i) for room_id, _ in rooms for i in (1, 2)
    )
    assert len(s.left_events()) == 6
    for room_id, _ in rooms:
        assert s.lobby.db.rooms[room_id].version == 4  # 2 joins, 2 releases


async def test_without_presence_nothing_is_released_and_the_failure_is_raised() -> None:
    s = Setup()
    room_id, (_, bob) = await s.room_of("Ann", "Bob")
    await s.gone(room_id, bob)
    s.later(HOLD_S)
    s.presence.fail_with = LiveStateUnavailable("down")
    with pytest.raises(LiveStateUnavailable):
        await s.step()()
    assert len(s.left_events()) == 0
    s.presence.fail_with = None
    assert len(await s.step()()) == 1
