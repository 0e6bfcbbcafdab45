"""``rooms try``'s lobby verbs: argument parsing and output, against the fake lobby.

Each verb runs in a thread (it owns its event loop, as from a shell) while
the fake server runs in the test's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from rooms_client import PlayerLeft, RetryPolicy, RoomsClient
from rooms_client.lobby import Room
from rooms_ws.cli import _parser
from rooms_ws.try_verb import format_event, format_room, run_verb
from tests.unit.client_fakes import FakeServer, fake_server, user_of

FAST = RetryPolicy(attempts=2, base_s=0.001, cap_s=0.01, reply_timeout_s=10, open_timeout_s=10)
ROOM = "0b5b3c62-1f6f-4a43-9a4e-4b1e2f0d9c11"


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with fake_server() as fake:
        yield fake


def parse(*words: str) -> argparse.Namespace:
    return _parser().parse_args(["try", *words])


async def run(server: FakeServer, *words: str) -> int:
    return await asyncio.to_thread(run_verb, parse(*words), server.url, policy=FAST)


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["T"], {"try_verb": None, "max_players": 4, "url": None}),
        (["T", "--url", "ws://h/ws", "--max-players", "2"], {"url": "ws://h/ws", "max_players": 2}),
        (["T", "create", "--max-players", "3"], {"try_verb": "create", "max_players": 3}),
        (["T", "join", "ab-12cd", "--url", "ws://h/ws"], {"code": "ab-12cd", "url": "ws://h/ws"}),
        (["T", "--url", "ws://h/ws", "join", "X"], {"code": "X", "url": "ws://h/ws"}),
        (["T", "ready", ROOM], {"room_id": uuid.UUID(ROOM), "off": False}),
        (["T", "ready", ROOM, "--off"], {"off": True}),
        (["T", "kick", ROOM, "2"], {"try_verb": "kick", "seat": 2}),
        (["T", "watch", ROOM], {"try_verb": "watch", "room_id": uuid.UUID(ROOM)}),
    ],
)
def test_the_verbs_parse(words: list[str], expected: dict[str, object]) -> None:
    args = vars(parse(*words))
    assert {k: args[k] for k in expected} == expected


@pytest.mark.parametrize(
    "words",
    [["T", "ready", "not-a-uuid"], ["T", "kick", ROOM], ["T", "kick", ROOM, "x"], ["T", "fly"]],
)
def test_bad_arguments_are_usage_errors(words: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(*words)
    assert exited.value.code == 2


# --- running ---------------------------------------------------------------------------------


async def test_join_ready_start_get_leave_print_their_frames(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(server, "Ann", "--max-players", "2") == 0
    room_id = next(iter(server.lobby.rooms))
    assert await run(server, "Bob", "join", "ab12cd") == 0
    out = capsys.readouterr().out
    assert '> {"type":"join_room"' in out and '"code":"ab12cd"' in out
    assert '< {"type":"join_room_ok"' in out

    for token in ("Ann", "Bob"):
        assert await run(server, token, "ready", room_id) == 0
    assert '"ready":true' in capsys.readouterr().out
    assert await run(server, "Bob", "ready", room_id, "--off") == 0
    assert '"ready":false' in capsys.readouterr().out

    assert await run(server, "Ann", "start", room_id) == 1
    captured = capsys.readouterr()
    assert "rooms: not_ready: not_ready\n  - seat 1: not ready" in captured.err
    assert await run(server, "Bob", "ready", room_id) == 0
    assert await run(server, "Ann", "start", room_id) == 0
    assert '< {"type":"start_game_ok"' in capsys.readouterr().out

    assert await run(server, "Bob", "get", room_id) == 0
    out = capsys.readouterr().out
    assert f"room {room_id}  code AB12CD  in_game  version 6  2/2 seated" in out
    assert f"  seat 1  Bob ({user_of('Bob')})  ready  connected" in out
    assert await run(server, "Bob", "leave", room_id) == 0
    assert '< {"type":"leave_room_ok"' in capsys.readouterr().out


async def test_kick_and_its_refusals(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(server, "Ann") == 0
    room_id = next(iter(server.lobby.rooms))
    assert await run(server, "Bob", "join", "AB12CD") == 0
    assert await run(server, "Bob", "kick", room_id, "0") == 1
    assert "rooms: not_host" in capsys.readouterr().err
    assert await run(server, "Ann", "kick", room_id, "1") == 0
    assert '"seat_index":1' in capsys.readouterr().out
    assert await run(server, "Bob", "get", room_id) == 1
    assert "rooms: not_in_room" in capsys.readouterr().err


async def test_watch_prints_the_room_then_its_events_until_it_closes(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with RoomsClient.connect(server.url, "Ann", policy=FAST) as ann:
        room = await ann.create_room(max_players=2)
        watching = asyncio.create_task(run(server, "Ann", "watch", str(room.room_id)))
        await server.wait_frames(2)  # the watcher's get_room
        await asyncio.sleep(0.1)  # its reply is on the way: the room is followed
        await ann.leave_room(room.room_id)
        assert await asyncio.wait_for(watching, 10) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"room {room.room_id}  code AB12CD  open  version 0")
    assert lines[1] == f"  seat 0  Ann ({user_of('Ann')})  host  not ready  connected"
    assert lines[2] == "  seat 1  (empty)"
    assert lines[3] == f"v1 player_left  seat_index=0  user_id={user_of('Ann')}  reason=left"
    assert lines[4] == "v1 room_closed  reason=empty"
    assert not any(line.startswith(">") for line in lines)


def test_an_event_and_a_resync_read_as_lines() -> None:
    room_id, user = uuid.uuid4(), uuid.uuid4()
    assert format_event(PlayerLeft(room_id, 3, 1, user, "kicked")) == (
        f"v3 player_left  seat_index=1  user_id={user}  reason=kicked"
    )
    room = Room(room_id, "AB12CD", "open", "private", 2, "classic", {}, 4, None, ())
    assert format_room(room) == f"room {room_id}  code AB12CD  open  version 4  0/2 seated"
