"""LiveUpdate, the view and events a committed change hands to the cache, and the event frame."""

from __future__ import annotations

import json
import uuid

import pytest

from rooms_adapters.memory import MemoryLiveStateCache
from rooms_domain import LiveUpdate, RoomId, UserId
from rooms_domain.events import PlayerJoined, PlayerReady, event_frame, event_message
from tests.contracts.live_state import T0, T1, Lobby


def test_an_update_carries_the_changes_events_and_whether_it_closed_the_room() -> None:
    lobby = Lobby()
    bob, joined = lobby.join("Bob", T1)
    assert not joined.closed
    assert [type(e) for e in joined.events] == [PlayerJoined]
    assert joined.version == 1 and joined.view.meta["status"] == "open"
    lobby.leave(lobby.host, T1)
    closing = lobby.leave(bob, T1)
    assert closing.closed and closing.view.meta["status"] == "closed"


def test_every_seated_user_needs_a_display_name() -> None:
    lobby = Lobby()
    with pytest.raises(KeyError):
        LiveUpdate.of(lobby.room, {}, (), T0)


def test_an_event_frame_is_the_server_envelope_with_no_request() -> None:
    room, user = RoomId(uuid.uuid4()), UserId(uuid.uuid4())
    event = PlayerReady(room, 7, 2, user, True)
    frame = {
        "type": "player_ready",
        "request_id": None,
        "payload": {
            "room_id": str(room),
            "version": 7,
            "seat_index": 2,
            "user_id": str(user),
            "ready": True,
        },
    }
    assert event_frame(event) == frame
    assert json.loads(event_message(event)) == frame


def test_an_event_message_is_compact_utf8_json_in_envelope_order() -> None:
    event = PlayerJoined(RoomId(uuid.uuid4()), 1, 1, UserId(uuid.uuid4()), "Zoë")
    message = event_message(event)
    assert message.startswith('{"type":"player_joined","request_id":null,"payload":{')
    assert "Zoë" in message and " " not in message


async def test_the_memory_cache_records_what_it_published() -> None:
    lobby = Lobby()
    cache = MemoryLiveStateCache()  # no bus: recorded only
    _, joined = lobby.join("Bob", T1)
    await cache.apply(lobby.room_id, joined)
    assert cache.published == [(lobby.room_id, event_frame(joined.events[0]))]
