"""The snapshot's `connected` (join_room_ok and get_room's reply): the live view's
presence, the requester always; without the live view, only the requester."""

from __future__ import annotations

from typing import Any

from rooms_adapters.memory_presence import MemoryPresence
from rooms_domain import LiveStateFailure
from rooms_domain.commands import GetRoomCommand
from tests.unit.test_lobby_use_cases import join, make_lobby, on_room


def connected(reply: dict[str, Any]) -> list[bool]:
    return [seat["connected"] for seat in reply["room"]["seats"]]


async def test_the_snapshot_shows_who_the_live_view_has_connected() -> None:
    lobby = make_lobby()
    ann, bob, cy = lobby.user("Ann"), lobby.user("Bob"), lobby.user("Cy")
    room_id, code = await lobby.room(ann)
    await lobby.join(join(bob, code))
    presence = MemoryPresence(lobby.cache, timeout_s=30)
    await presence.beat("a", 0)
    await presence.connect(room_id, bob, "a", 0)
    await presence.disconnect(room_id, bob, "a", 1)

    assert connected(await lobby.get(on_room(GetRoomCommand, ann, room_id))) == [
        True, False, False, False
    ]  # fmt: skip
    # Bob asks: he is connected, whatever the view still says.
    assert connected(await lobby.get(on_room(GetRoomCommand, bob, room_id)))[:2] == [True, True]
    joined = await lobby.join(join(cy, code))
    assert connected(joined) == [True, False, True, False]
    # A rejoin of Bob (same seat): connected in his reply.
    again = await lobby.join(join(bob, code))
    assert connected(again)[:3] == [True, True, True]


async def test_without_the_live_view_only_the_requester_is_connected() -> None:
    lobby = make_lobby()
    ann, bob = lobby.user("Ann"), lobby.user("Bob")
    room_id, code = await lobby.room(ann)
    await lobby.join(join(bob, code))
    lobby.cache.fail_with = LiveStateFailure("redis down")
    reply = await lobby.get(on_room(GetRoomCommand, bob, room_id))
    assert connected(reply) == [False, True, False, False]
