"""Presence over /ws on a real uvicorn with the in-memory adapters: the last socket
gone (closed, or dead and found by pings) is player_disconnected, a page refresh
within the hold is player_reconnected on the same seat, and the snapshot says who is
connected."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rooms_domain.use_cases.release_seats import ReleaseExpiredSeats
from rooms_ws.app import resolve
from rooms_ws.metrics import SEATS_RELEASED
from tests.integration.lobby_support import Player, host_and_guest, players, request
from tests.integration.memory_server import MemoryServer, StartMemoryServer
from tests.integration.raw_ws import TEXT, close_code, frame, open_websocket
from tests.integration.ws_support import client, token_for


async def a_room(server: MemoryServer, host: Player, guest_id: Any) -> tuple[str, str]:
    room_id, code = await host.create_room()
    async with client(server.url, token_for(guest_id)) as ws:
        await Player(ws).ask("join_room", code=code)
        await host.expect("player_joined")
    return room_id, code


def connected(snapshot: dict[str, Any]) -> list[bool]:
    return [seat["connected"] for seat in snapshot["payload"]["room"]["seats"]][:2]


async def test_the_last_socket_closed_is_disconnected_and_a_refresh_reconnects(
    memory_server: MemoryServer,
) -> None:
    ann, bob = memory_server.add_user("Ann"), memory_server.add_user("Bob")
    async with players(memory_server.url, ann) as (host,):
        room_id, _ = await a_room(memory_server, host, bob)  # Bob's socket closed

        (gone,) = await host.expect("player_disconnected")
        assert gone["payload"] == {
            "room_id": room_id, "version": 1, "seat_index": 1, "user_id": str(bob)
        }  # fmt: skip
        assert connected(await host.ask("get_room", room_id=room_id)) == [True, False]

        # The page refreshed: a new socket, get_room.
        async with client(memory_server.url, token_for(bob)) as ws_bob:
            snapshot = await Player(ws_bob).ask("get_room", room_id=room_id)
            assert snapshot["payload"]["room"]["seats"][1]["user_id"] == str(bob)
            assert connected(snapshot) == [True, True]
            (back,) = await host.expect("player_reconnected")
            assert back["payload"]["seat_index"] == 1 and back["payload"]["version"] == 1
            assert connected(await host.ask("get_room", room_id=room_id)) == [True, True]
        await host.expect("player_disconnected")
        assert [e["type"] for e in host.events].count("player_left") == 0


async def test_one_socket_of_two_closed_leaves_the_user_connected(
    memory_server: MemoryServer,
) -> None:
    ann, bob = memory_server.add_user("Ann"), memory_server.add_user("Bob")
    async with host_and_guest(memory_server.url, ann, bob) as (host, guest, room_id):
        async with client(memory_server.url, token_for(bob)) as second:
            await Player(second).ask("get_room", room_id=room_id)
        await guest.ask("set_ready", room_id=room_id, ready=True)
        await host.expect("player_ready")
        assert "player_disconnected" not in [e["type"] for e in host.events]


async def test_a_leave_is_not_a_disconnection(memory_server: MemoryServer) -> None:
    ann, bob = memory_server.add_user("Ann"), memory_server.add_user("Bob")
    async with host_and_guest(memory_server.url, ann, bob) as (host, guest, room_id):
        await guest.ask("leave_room", room_id=room_id)
        await host.expect("player_left")
        heard = await host.quiet(1.5)  # past the unfollow grace
        assert [e["type"] for e in heard] == []


async def test_a_socket_that_answers_no_ping_is_closed_and_disconnected(
    start_memory_server: StartMemoryServer,
) -> None:
    server = await start_memory_server(ping_interval_seconds=0.5)
    assert isinstance(server, MemoryServer)
    ann, bob = server.add_user("Ann"), server.add_user("Bob")
    async with client(server.url, token_for(ann), ping_interval=None) as ws_ann:
        host = Player(ws_ann)
        room_id, _ = await a_room(server, host, bob)
        await host.expect("player_disconnected")
        port = int(server.url.split(":")[2].split("/")[0])

        def silent_client() -> int | None:
            sock = open_websocket(port, token_for(bob))
            try:
                ask = request("get_room", room_id=room_id)
                sock.sendall(frame(TEXT, json.dumps(ask).encode()))
                # Reads (pings among the frames) but never answers one.
                return close_code(sock, within_s=30)
            finally:
                sock.close()

        closing = asyncio.create_task(asyncio.to_thread(silent_client))
        await host.expect("player_reconnected")
        await host.expect("player_disconnected", within_s=20)
        assert await closing == 1011


async def test_the_container_gives_the_housekeeping_round_its_release_step(
    start_memory_server: StartMemoryServer,
) -> None:
    server = await start_memory_server(seat_hold_seconds=1)
    ann, bob = server.add_user("Ann"), server.add_user("Bob")
    release = await resolve(server.container.release_expired_seats)
    assert isinstance(release, ReleaseExpiredSeats)
    async with players(server.url, ann) as (host,):
        room_id, _ = await a_room(server, host, bob)
        await host.expect("player_disconnected")
        assert await release() == []  # held for less than the hold
        await asyncio.sleep(1.1)
        counted = SEATS_RELEASED.labels("timeout")._value.get()
        (released,) = await release()
        assert SEATS_RELEASED.labels("timeout")._value.get() == counted + 1
        assert (str(released.room_id), released.seat_index) == (room_id, 1)
        (left,) = await host.expect("player_left")
        assert left["payload"]["reason"] == "timeout"
