"""A player back in time (join_room with the code, or get_room) keeps the seat a
reply gave them, whatever a release of that held seat does meanwhile: the
rejoin takes the seat back under the room's lock, before it answers; a release
that locked the room first wins, and the rejoin then says so.

The interleavings are forced through the release's presence calls; on the
in-memory adapters (``tests/integration/test_rejoin_postgres.py``: the same on
PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from rooms_domain import RoomId, UserId
from rooms_domain.commands import GetRoomCommand
from rooms_domain.errors import NotInRoom
from rooms_domain.presence import HeldSeat
from rooms_domain.use_cases.release_seats import Released
from tests.unit.test_lobby_use_cases import join, on_room
from tests.unit.test_release_seats import HOLD_S, INSTANCE, Setup

Rejoin = Callable[[], Awaitable[dict[str, Any]]]


async def held_bob(s: Setup) -> tuple[RoomId, UserId, dict[str, Rejoin]]:
    """Ann and Bob in a room, Bob gone a whole hold ago; his two ways back."""
    room_id, (_, bob) = await s.room_of("Ann", "Bob")
    code = str(s.lobby.db.rooms[room_id].code)
    answered = join(bob, code)  # a join_room to resend after a reconnect
    await s.lobby.join(answered)
    await s.gone(room_id, bob)
    s.later(HOLD_S)
    ways: dict[str, Rejoin] = {
        "join_room": lambda: s.lobby.join(join(bob, code)),
        "join_room replayed": lambda: s.lobby.join(answered),
        "get_room": lambda: s.lobby.get(on_room(GetRoomCommand, bob, room_id)),
    }
    return room_id, bob, ways


def seat_index(reply: dict[str, Any], user: UserId) -> int:
    seats = reply["room"]["seats"]
    return next(s["seat_index"] for s in seats if s["user_id"] == str(user))


@pytest.mark.parametrize("way", ["join_room", "join_room replayed", "get_room"])
async def test_a_rejoin_between_the_batch_and_the_rooms_lock_keeps_the_seat(
    way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Setup()
    room_id, bob, ways = await held_bob(s)
    replies = []
    read_batch = s.presence.held

    async def then_bob_comes_back(since_until_ms: int, limit: int) -> list[HeldSeat]:
        batch = await read_batch(since_until_ms, limit)
        replies.append(await ways[way]())  # answered; his socket has yet to follow
        return batch

    monkeypatch.setattr(s.presence, "held", then_bob_comes_back)
    assert await s.step()() == []
    assert seat_index(replies[0], bob) == 1
    assert s.lobby.db.rooms[room_id].seat_of(bob) is not None
    assert s.left_events() == []
    # His socket follows the room: the seat is his, no longer held.
    monkeypatch.undo()
    assert await s.presence.connect(room_id, bob, INSTANCE, s.clock.now)
    assert not await s.presence.is_held(room_id, bob)


@pytest.mark.parametrize("way", ["join_room", "join_room replayed", "get_room"])
async def test_a_rejoin_whose_socket_never_follows_is_released_a_hold_later(way: str) -> None:
    s = Setup()
    room_id, bob, ways = await held_bob(s)
    await ways[way]()
    assert await s.step()() == []
    s.later(HOLD_S)
    assert await s.step()() == [Released(room_id, bob, 1)]


async def released_while_rejoining(
    s: Setup, way: str, monkeypatch: pytest.MonkeyPatch
) -> asyncio.Task[dict[str, Any]]:
    """Bob's seat released; his rejoin started once the release held the room's
    lock, and got as far as it could meanwhile. The rejoin, to await."""
    room_id, bob, ways = await held_bob(s)
    asked: list[asyncio.Task[dict[str, Any]]] = []
    held_since_ms = s.presence.held_since_ms

    async def rejoin_meanwhile(room: RoomId, user: UserId) -> int | None:
        if asked:  # the rejoin's own read (RedisPresence.is_held is one)
            return await held_since_ms(room, user)
        asked.append(asyncio.create_task(ways[way]()))
        await asyncio.wait(asked, timeout=0.05)
        return await held_since_ms(room, user)

    monkeypatch.setattr(s.presence, "held_since_ms", rejoin_meanwhile)
    assert await s.step()() == [Released(room_id, bob, 1)]
    return asked[0]


async def test_get_room_after_a_release_that_locked_the_room_first_is_not_in_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Setup()
    asked = await released_while_rejoining(s, "get_room", monkeypatch)
    with pytest.raises(NotInRoom):
        await asked
    assert all(room.seats[1].user_id is None for room in s.lobby.db.rooms.values())


async def test_join_room_after_a_release_that_locked_the_room_first_is_a_fresh_join(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Setup()
    asked = await released_while_rejoining(s, "join_room", monkeypatch)
    reply = await asked
    assert reply["seat_index"] == 1 and reply["version"] == 3  # released, then joined again
    assert s.lobby.events()[-2:] == ["player_left", "player_joined"]
