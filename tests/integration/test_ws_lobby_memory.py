"""The lobby over /ws on a real uvicorn with the in-memory adapters: replies, errors,
events to every follower, and who stops hearing a room when."""

from __future__ import annotations

import uuid

from rooms_domain import RoomId
from tests.contracts.support import eventually
from tests.integration.lobby_support import Player, host_and_guest, players
from tests.integration.memory_server import MemoryServer
from tests.integration.ws_support import client, token_for


async def test_a_lobby_from_create_to_start(memory_server: MemoryServer) -> None:
    ann, bob = memory_server.add_user("Ann"), memory_server.add_user("Bob")
    async with players(memory_server.url, ann, bob) as (host, guest):
        room_id, code = await host.create_room()

        joined = await guest.ask("join_room", code=code.lower())
        assert joined["type"] == "join_room_ok"
        assert joined["payload"]["seat_index"] == 1 and joined["payload"]["version"] == 1
        (event,) = await host.expect("player_joined")
        assert event["payload"]["display_name"] == "Bob" and event["payload"]["room_id"] == room_id

        for player in (host, guest):
            ok = await player.ask("set_ready", room_id=room_id, ready=True)
            assert ok["type"] == "set_ready_ok"
        refused = await guest.ask("start_game", room_id=room_id)
        assert refused["payload"]["code"] == "not_host"
        started = await host.ask("start_game", room_id=room_id)
        assert started["payload"] == {"room_id": room_id, "version": 4}
        await guest.expect("game_started")
        snapshot = await guest.ask("get_room", room_id=room_id)
        assert snapshot["type"] == "room" and snapshot["payload"]["room"]["status"] == "in_game"


async def test_errors_of_the_lobby_on_the_wire(memory_server: MemoryServer) -> None:
    ann = memory_server.add_user("Ann")
    async with client(memory_server.url, token_for(ann)) as ws:
        player = Player(ws)
        room_id, _ = await player.create_room()
        bad = await player.ask("join_room", code="NOT-A-CODE!")
        assert bad["payload"]["code"] == "validation_failed"
        missing = await player.ask("join_room", code="ZZZZZZ")
        assert (missing["payload"]["code"], missing["payload"]["retryable"]) == (
            "room_not_found",
            False,
        )
        blocked = await player.ask("start_game", room_id=room_id)
        assert blocked["payload"]["code"] == "not_ready"
        assert {"seat_index": 1, "problem": "empty"} in blocked["payload"]["details"]
        kick = await player.ask("kick_player", room_id=room_id, seat_index="1")
        assert kick["payload"]["code"] == "validation_failed"


async def test_a_kicked_player_hears_nothing_more(memory_server: MemoryServer) -> None:
    ann, bob, cy = (memory_server.add_user(n) for n in ("Ann", "Bob", "Cy"))
    async with players(memory_server.url, ann, bob, cy) as (host, kicked, other):
        room_id, code = await host.create_room()
        await kicked.ask("join_room", code=code)
        await other.ask("join_room", code=code)
        await kicked.expect("player_joined")  # Cy's

        ok = await host.ask("kick_player", room_id=room_id, seat_index=1)
        assert ok["payload"] == {"room_id": room_id, "seat_index": 1, "version": 3}
        (left,) = await kicked.expect("player_left")
        assert left["payload"]["reason"] == "kicked"
        await other.expect("player_left")
        await host.ask("set_ready", room_id=room_id, ready=True)
        await other.expect("player_ready")

        assert await kicked.quiet() == []
        refused = await kicked.ask("get_room", room_id=room_id)
        assert refused["payload"]["code"] == "not_in_room"


async def test_host_succession_and_closing(memory_server: MemoryServer) -> None:
    ann, bob = memory_server.add_user("Ann"), memory_server.add_user("Bob")
    async with host_and_guest(memory_server.url, ann, bob) as (host, guest, room_id):
        await host.ask("leave_room", room_id=room_id)
        # The leaver hears its own leave and what it caused, then nothing more.
        await host.expect("player_left", "host_changed")
        _, succession = await guest.expect("player_left", "host_changed")
        assert succession["payload"]["seat_index"] == 1 and succession["payload"]["version"] == 2
        rejoin = await guest.ask("get_room", room_id=room_id)
        assert rejoin["payload"]["room"]["host_seat"] == 1

        bye = await guest.ask("leave_room", room_id=room_id)
        assert bye["payload"] == {"room_id": room_id, "version": 3}
        await guest.expect("player_left", "room_closed")
        assert await host.quiet() == []
        gone = await guest.ask("get_room", room_id=room_id)
        assert gone["payload"]["code"] == "room_not_found"
        assert await guest.quiet() == []


async def test_a_replayed_join_follows_the_room_while_the_seat_is_held(
    memory_server: MemoryServer,
) -> None:
    ann, bob = memory_server.add_user("Ann"), memory_server.add_user("Bob")
    async with players(memory_server.url, ann) as (host,):
        room_id, code = await host.create_room()
        join_id = str(uuid.uuid4())
        async with client(memory_server.url, token_for(bob)) as first:
            first_reply = await Player(first).ask("join_room", join_id, code=code)
        # A new connection (the reply was lost, say): the replay follows the room.
        async with client(memory_server.url, token_for(bob)) as again:
            guest = Player(again)
            replayed = await guest.ask("join_room", join_id, code=code)
            assert replayed == first_reply
            await host.ask("set_ready", room_id=room_id, ready=True)
            await guest.expect("player_ready")
            await guest.ask("leave_room", room_id=room_id)
            await guest.expect("player_left")
        # Once the seat is given up, a replay of the join answers but follows nothing.
        async with client(memory_server.url, token_for(bob)) as late:
            guest = Player(late)
            assert await guest.ask("join_room", join_id, code=code) == first_reply
            await host.ask("set_ready", room_id=room_id, ready=False)
            assert await guest.quiet() == []


async def test_a_leave_stops_every_connection_of_the_user_from_following(
    memory_server: MemoryServer,
) -> None:
    ann, bob = memory_server.add_user("Ann"), memory_server.add_user("Bob")
    async with players(memory_server.url, ann, bob, bob) as (host, on_phone, on_laptop):
        room_id, code = await host.create_room()
        await on_phone.ask("join_room", code=code)
        await on_laptop.ask("get_room", room_id=room_id)
        listeners = memory_server.events.listeners[RoomId(uuid.UUID(room_id))]
        assert len(listeners) == 3

        await on_phone.ask("leave_room", room_id=room_id)
        await on_laptop.expect("player_left")
        await host.ask("set_ready", room_id=room_id, ready=True)
        assert await on_laptop.quiet() == [] and await on_phone.quiet() == []
        # Then the subscriptions themselves go.
        await eventually(lambda: len(listeners) == 1)
