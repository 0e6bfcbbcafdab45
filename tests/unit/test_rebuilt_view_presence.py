"""A live view created from nothing (Redis lost it) shows presence, not "everyone connected".

get_room, join_room and the sweep's repair all write it through the cache's
step; on the in-memory adapters here (the Redis step passes the same
contract: tests/contracts/presence.py, and tests/integration/test_housekeeping.py).
"""

from __future__ import annotations

from typing import Any

from rooms_adapters.memory import MemoryUnitOfWorkFactory
from rooms_adapters.memory_housekeeping import (
    MemoryClosingTimes,
    MemorySweepStore,
    MemoryViewVersions,
)
from rooms_adapters.memory_presence import MemoryPresence
from rooms_domain import RoomId, UserId
from rooms_domain.commands import GetRoomCommand
from rooms_domain.housekeeping import Housekeeping
from rooms_domain.presence import HeldSeat
from rooms_domain.use_cases.release_seats import ReleaseExpiredSeats
from tests.unit.harness import NOW_MS, FixedClock
from tests.unit.test_lobby_use_cases import Lobby, join, make_lobby, on_room

HOLD_S = 2


def connected(reply: dict[str, Any]) -> list[bool]:
    return [seat["connected"] for seat in reply["room"]["seats"]]


async def a_room_whose_view_was_lost() -> tuple[Lobby, MemoryPresence, RoomId, list[UserId]]:
    """Ann (host) and Bob seated, both followed on instance "a"; then the view is
    lost, and Bob's socket closes while there is none (nothing held, no event)."""
    lobby = make_lobby()
    ann, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(ann)
    await lobby.join(join(bob, code))
    presence = MemoryPresence(lobby.cache, timeout_s=30)
    await presence.beat("a", NOW_MS)
    for user in (ann, bob):
        await presence.connect(room_id, user, "a", NOW_MS)
    del lobby.cache.views[room_id]
    assert await presence.disconnect(room_id, bob, "a", NOW_MS) is False
    assert not await presence.is_held(room_id, bob)
    lobby.cache.published.clear()
    return lobby, presence, room_id, [ann, bob]


def disconnected_events(lobby: Lobby) -> list[object]:
    return [
        frame["payload"]
        for _, frame in lobby.cache.published
        if frame["type"] == "player_disconnected"
    ]


async def test_get_room_rebuilds_a_lost_view_with_the_gone_player_held() -> None:
    lobby, presence, room_id, (ann, bob) = await a_room_whose_view_was_lost()
    reply = await lobby.get(on_room(GetRoomCommand, ann, room_id))
    assert connected(reply)[:2] == [True, False]
    assert await presence.held(NOW_MS, 10) == [HeldSeat(room_id, bob, NOW_MS)]
    version = lobby.version(room_id)
    assert disconnected_events(lobby) == [
        {"room_id": str(room_id), "version": version, "seat_index": 1, "user_id": str(bob)}
    ]
    # Bob comes back within the hold: connected again, no longer held.
    assert await presence.connect(room_id, bob, "a", NOW_MS + 1) is True
    assert not await presence.is_held(room_id, bob)


async def test_the_requester_is_connected_in_a_view_rebuilt_before_they_follow() -> None:
    lobby, presence, room_id, (_, bob) = await a_room_whose_view_was_lost()
    # Bob, on a new socket that follows the room only after the reply (a page refresh).
    reply = await lobby.get(on_room(GetRoomCommand, bob, room_id))
    assert connected(reply)[:2] == [True, True]
    assert await presence.held(NOW_MS, 10) == []
    assert disconnected_events(lobby) == []


async def test_join_room_into_a_lost_view_holds_the_gone_player_not_the_joiner() -> None:
    lobby, presence, room_id, (_, bob) = await a_room_whose_view_was_lost()
    cy = lobby.user("Cy")
    code = str(lobby.db.rooms[room_id].code)
    reply = await lobby.join(join(cy, code))
    assert connected(reply)[:3] == [True, False, True]
    assert [h.user_id for h in await presence.held(NOW_MS, 10)] == [bob]


async def test_the_sweep_rebuilds_a_lost_view_and_the_gone_player_is_released_after_the_hold() -> (
    None
):
    lobby, presence, room_id, (ann, bob) = await a_room_whose_view_was_lost()
    clock = FixedClock()
    release = ReleaseExpiredSeats(
        uow_factory=MemoryUnitOfWorkFactory(lobby.db),
        live_state=lobby.cache,
        presence=presence,
        clock=clock,
        hold_s=HOLD_S,
    )
    sweep = Housekeeping(
        MemorySweepStore(lobby.db),
        MemoryClosingTimes(clock),
        MemoryViewVersions(lobby.cache),
        lobby.cache,
        clock,
        release_held_seats=release,
    )
    first = await sweep.run_round()
    assert first.tasks[2].done == 1  # the live view, rebuilt
    assert first.tasks[3].done == 0  # Bob held, not yet released
    view = lobby.cache.views[room_id]
    assert '"connected":false' in view.seats["seat:1"]
    assert '"connected":true' in view.seats["seat:0"]  # Ann's socket is still there
    clock.now += HOLD_S * 1000
    second = await sweep.run_round()
    assert second.tasks[3].done == 1
    left = [f["payload"] for _, f in lobby.cache.published if f["type"] == "player_left"]
    assert left == [
        {
            "room_id": str(room_id),
            "version": lobby.version(room_id),
            "seat_index": 1,
            "user_id": str(bob),
            "reason": "timeout",
        }
    ]
    assert lobby.db.rooms[room_id].seat_of(ann) is not None
