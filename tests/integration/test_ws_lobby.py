"""The lobby, black-box, on real ``rooms serve`` processes with PostgreSQL and Redis:
the race for the last seat, host succession, closing, a kicked player, events across
two instances."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rooms_adapters.redis_live_state import RedisLiveStateCache
from tests.integration.lobby_support import Player, request
from tests.integration.server_process import Servers, fetch, server_env
from tests.integration.test_ws_cluster import add_user, cleanup_rooms  # noqa: F401
from tests.integration.ws_support import client, receive, token_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("cleanup_rooms")]

# The events travel through the live view's atomic step on Redis (its apply).
needs_live_events = pytest.mark.skipif(
    not hasattr(RedisLiveStateCache, "apply"),
    reason="the Redis live view step (apply: view + PUBLISH) is not on this branch yet",
)


@contextlib.asynccontextmanager
async def players(urls: list[str], dsn: str, *names: str) -> AsyncIterator[list[Player]]:
    async with contextlib.AsyncExitStack() as stack:
        found = []
        for i, name in enumerate(names):
            user = await add_user(dsn, name)
            ws = await stack.enter_async_context(client(urls[i % len(urls)], token_for(user)))
            found.append(Player(ws))
        yield found


async def answer(ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
    """The final answer to a request, retried with the same id while the error is retryable."""
    for _ in range(50):
        await ws.send(json.dumps(frame))
        while True:
            got = await receive(ws)
            if got["request_id"] == frame["request_id"]:
                break
        if got["type"] != "error" or not got["payload"]["retryable"]:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"still retryable after 50 tries: {got}")


async def test_fifty_joins_race_for_the_last_three_seats_on_two_servers(
    servers: Servers, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, redis_url, tmp_path / "data")
    urls = [servers.start(env).url, servers.start(env).url]
    for _ in range(2):  # repeated: one winner per seat, whatever the interleaving
        async with players(urls, database_url, *(f"P{i}" for i in range(51))) as everyone:
            host, *joiners = everyone
            room_id, code = await host.create_room()
            frames = [request("join_room", code=code) for _ in joiners]
            replies = await asyncio.gather(
                *(answer(p.ws, f) for p, f in zip(joiners, frames, strict=True))
            )
        won = [r for r in replies if r["type"] == "join_room_ok"]
        lost = {r["payload"]["code"] for r in replies if r["type"] == "error"}
        assert len(won) == 3 and lost == {"room_full"}, (len(won), lost)
        assert sorted(r["payload"]["seat_index"] for r in won) == [1, 2, 3]
        seats = await fetch(
            database_url,
            "SELECT user_id FROM room_seats WHERE room_id = $1 AND status = 'occupied'",
            uuid.UUID(room_id),
        )
        assert len(seats) == 4 and len({s["user_id"] for s in seats}) == 4
        (row,) = await fetch(
            database_url, "SELECT version FROM rooms WHERE room_id = $1", uuid.UUID(room_id)
        )
        assert row["version"] == 3


async def test_host_succession_and_closing_in_postgresql(
    servers: Servers, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, redis_url, tmp_path / "data")
    url = servers.start(env).url
    async with players([url], database_url, "Ann", "Bob", "Cy") as (ann, bob, cy):
        room_id, code = await ann.create_room()
        await bob.ask("join_room", code=code)
        await cy.ask("join_room", code=code)

        left = await ann.ask("leave_room", room_id=room_id)
        assert left["payload"] == {"room_id": room_id, "version": 3}
        snapshot = (await bob.ask("get_room", room_id=room_id))["payload"]["room"]
        assert snapshot["host_seat"] == 1
        assert [s["is_host"] for s in snapshot["seats"]] == [False, True, False, False]
        refused = await ann.ask("get_room", room_id=room_id)
        assert refused["payload"]["code"] == "not_in_room"

        await bob.ask("leave_room", room_id=room_id)
        assert (await cy.ask("get_room", room_id=room_id))["payload"]["room"]["host_seat"] == 2
        await cy.ask("leave_room", room_id=room_id)
        gone = await cy.ask("join_room", code=code)
        assert gone["payload"]["code"] == "room_not_found"
    (row,) = await fetch(
        database_url,
        "SELECT status::text, version FROM rooms WHERE room_id = $1",
        uuid.UUID(room_id),
    )
    assert dict(row) == {"status": "closed", "version": 5}


@needs_live_events
async def test_events_cross_instances_and_a_kicked_player_hears_nothing_more(
    servers: Servers, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, redis_url, tmp_path / "data")
    urls = [servers.start(env).url, servers.start(env).url]
    async with players(urls, database_url, "Ann", "Bob", "Cy") as (host, kicked, other):
        room_id, code = await host.create_room()
        await kicked.ask("join_room", code=code)  # on the other instance
        (joined,) = await host.expect("player_joined")
        assert joined["payload"]["seat_index"] == 1
        await other.ask("join_room", code=code)
        await kicked.expect("player_joined")

        await host.ask("kick_player", room_id=room_id, seat_index=1)
        (left,) = await kicked.expect("player_left")
        assert left["payload"]["reason"] == "kicked" and left["payload"]["version"] == 3
        await host.ask("set_ready", room_id=room_id, ready=True)
        await other.expect("player_left", "player_ready")
        assert await kicked.quiet(1.5) == []

        await host.ask("leave_room", room_id=room_id)
        _, succession = await other.expect("player_left", "host_changed")
        assert succession["payload"]["seat_index"] == 2
        await other.ask("leave_room", room_id=room_id)
        await other.expect("player_left", "room_closed")
