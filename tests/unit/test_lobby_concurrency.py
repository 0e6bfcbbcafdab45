"""The lobby's use cases under concurrent requests (memory adapters, real lock waits).

Any batch of joins, leaves, kicks and ready toggles sent at once to one room:
the room stays sound (at most ``max_players`` seats occupied, no user twice,
one host while anyone is seated, closed exactly when empty), ``version``
counts the changes, the published events carry each of 1..version, and the
live view ends at the committed version.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rooms_domain import RoomsError, RoomStatus, SeatStatus
from rooms_domain.commands import KickPlayerCommand, LeaveRoomCommand, SetReadyCommand
from tests.unit.harness import new_request_id
from tests.unit.test_lobby_use_cases import join, make_lobby

VERBS = ["join", "join", "leave", "kick", "ready"]
batches = st.lists(
    st.tuples(st.sampled_from(VERBS), st.integers(0, 5), st.integers(1, 3)),
    min_size=1,
    max_size=16,
)


@settings(max_examples=60, deadline=None)
@given(batch=batches, max_players=st.integers(2, 4))
def test_any_concurrent_batch_keeps_the_room_sound(
    batch: list[tuple[str, int, int]], max_players: int
) -> None:
    asyncio.run(_run(batch, max_players))


async def _run(batch: list[tuple[str, int, int]], max_players: int) -> None:
    lobby = make_lobby(lock_wait_s=5.0)
    host = lobby.user("Host")
    users = [host, *(lobby.user(f"U{i}") for i in range(5))]
    room_id, code = await lobby.room(host, max_players=max_players)
    ids = {"room_id": str(room_id)}

    async def send(verb: str, who: int, seat: int) -> Any:
        user = users[who]
        if verb == "join":
            return await lobby.join(join(user, code))
        if verb == "leave":
            return await lobby.leave(LeaveRoomCommand.from_payload(user, new_request_id(), ids))
        if verb == "kick":
            cmd = KickPlayerCommand.from_payload(
                user, new_request_id(), {**ids, "seat_index": seat}
            )
            return await lobby.kick(cmd)
        cmd = SetReadyCommand.from_payload(user, new_request_id(), {**ids, "ready": True})
        return await lobby.ready(cmd)

    results = await asyncio.gather(*(send(*step) for step in batch), return_exceptions=True)
    assert all(isinstance(r, dict | RoomsError) for r in results), results

    room = lobby.db.rooms[room_id]
    occupied = [s for s in room.seats if s.status is SeatStatus.OCCUPIED]
    assert len(occupied) <= max_players
    assert all(s.index < max_players for s in occupied)
    assert len({s.user_id for s in occupied}) == len(occupied)
    hosts = [s for s in room.seats if s.is_host]
    assert len(hosts) == (1 if occupied else 0)
    assert (room.status is RoomStatus.CLOSED) == (not occupied)
    # Each change published its events, with its own version (in whatever order the
    # live steps of concurrent requests ran: the live view keeps the newest).
    versions = {frame["payload"]["version"] for _, frame in lobby.cache.published}  # type: ignore[index]
    assert sorted(versions) == list(range(1, room.version + 1))
    if room.status is not RoomStatus.CLOSED:
        assert lobby.cache.views[room_id].meta["version"] == str(room.version)
    assert lobby.db.held_rooms == set() and lobby.db.held_keys == set()
