"""The lobby's use cases on a real PostgreSQL: the race for the last seat, what is
stored, and the round trips per request. The live view is the in-memory one here."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import pytest

from rooms_adapters.memory import MemoryLiveStateCache
from rooms_adapters.postgres import (
    PoolSettings,
    PostgresUnitOfWorkFactory,
    add_user,
    create_pool,
)
from rooms_domain import (
    CreateRoom,
    CreateRoomCommand,
    RequestId,
    SecureCodeGenerator,
    SystemClock,
    UnitOfWorkFactory,
    UserId,
    ValidationFailed,
)
from rooms_domain.commands import (
    GetRoomCommand,
    JoinRoomCommand,
    KickPlayerCommand,
    SetReadyCommand,
)
from rooms_domain.errors import Refusal, RoomFull
from rooms_domain.use_cases import GetRoom, JoinRoom, KickPlayer, SetReady
from tests.integration.postgres_support import rows, through_a_proxy

pytestmark = pytest.mark.integration


class Lobby:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        deps: dict[str, Any] = {
            "uow_factory": uow_factory,
            "live_state": MemoryLiveStateCache(),
            "clock": SystemClock(),
        }
        self.create = CreateRoom(codes=SecureCodeGenerator(), **deps)
        self.join = JoinRoom(**deps)
        self.ready = SetReady(**deps)
        self.kick = KickPlayer(**deps)
        self.get = GetRoom(**deps)

    async def room(self, host: UserId, max_players: int = 4) -> tuple[str, str]:
        cmd = CreateRoomCommand.from_payload(
            host, rid(), {"ruleset_id": "classic", "max_players": max_players}
        )
        ok = await self.create(cmd)
        return str(ok.room_id), str(ok.code)


def rid() -> RequestId:
    return RequestId(uuid.uuid4())


async def test_fifty_joins_race_for_three_seats(
    database_url: str, pg_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    settings = PoolSettings(max_size=10)
    pool = await create_pool(database_url, settings)
    try:
        lobby = Lobby(PostgresUnitOfWorkFactory(pool, settings))
        host = await add_user(pg_pool, "Host")
        room_id, code = await lobby.room(host)
        users = [await add_user(pg_pool, f"P{i}") for i in range(50)]
        for _ in range(2):  # twice: the same answer whatever the interleaving
            results = await asyncio.gather(
                *(
                    lobby.join(JoinRoomCommand.from_payload(u, rid(), {"code": code}))
                    for u in users
                ),
                return_exceptions=True,
            )
            won = [r for r in results if isinstance(r, dict)]
            lost = [r for r in results if not isinstance(r, dict)]
            assert len(won) == 3 and all(isinstance(r, RoomFull) for r in lost), lost[:3]
        seats = await rows(
            pg_pool,
            "SELECT seat_index, user_id FROM room_seats WHERE room_id = $1 AND status = 'occupied'",
            uuid.UUID(room_id),
        )
        version = await rows(
            pg_pool, "SELECT version FROM rooms WHERE room_id = $1", uuid.UUID(room_id)
        )
        failed = await rows(
            pg_pool, "SELECT count(*) AS n FROM ws_idempotency WHERE status = 'failed'"
        )
    finally:
        await pool.close()
    assert len(seats) == 4 and len({s["user_id"] for s in seats}) == 4
    # The second round found every seat its own first-round winners hold: rejoins, no change.
    assert version == [{"version": 3}]
    assert failed == [{"n": 47 * 2}]


async def test_a_kick_out_of_range_stores_nothing_and_a_refusal_is_failed(
    uow_factory: UnitOfWorkFactory, pg_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    lobby = Lobby(uow_factory)
    host, bob = await add_user(pg_pool, "Ann"), await add_user(pg_pool, "Bob")
    room_id, code = await lobby.room(host, max_players=2)
    await lobby.join(JoinRoomCommand.from_payload(bob, rid(), {"code": code}))
    out_of_range = KickPlayerCommand.from_payload(
        host, rid(), {"room_id": room_id, "seat_index": 3}
    )
    with pytest.raises(ValidationFailed):
        await lobby.kick(out_of_range)
    full = JoinRoomCommand.from_payload(await add_user(pg_pool, "Carl"), rid(), {"code": code})
    with pytest.raises(RoomFull):
        await lobby.join(full)
    stored = await rows(
        pg_pool, "SELECT request_id, status::text FROM ws_idempotency ORDER BY status"
    )
    assert {"request_id": out_of_range.request_id, "status": "failed"} not in stored
    assert {"request_id": full.request_id, "status": "failed"} in stored


async def test_round_trips_per_lobby_request(
    database_url: str, pg_pool: asyncpg.Pool[asyncpg.Record]
) -> None:
    counted: dict[str, int] = {}
    async with through_a_proxy(database_url) as (proxy, factory):
        lobby = Lobby(factory)
        host = await add_user(pg_pool, "Ann")
        users = [await add_user(pg_pool, name) for name in ("Bob", "Carl", "Dan", "Eve")]
        room_id, code = await lobby.room(host)

        async def count(name: str, request: Any) -> None:
            proxy.round_trips = 0
            with contextlib.suppress(Refusal):  # a refusal is counted like a success
                await request
            counted[name] = proxy.round_trips

        # Each kind once before counting: statements are prepared once per connection.
        seated = []
        for label in ("warm", "join"):
            user = users.pop()
            seated.append(user)
            cmd = JoinRoomCommand.from_payload(user, rid(), {"code": code})
            await count(label, lobby.join(cmd))
            await count(f"{label} replay", lobby.join(cmd))
        ready = {"room_id": room_id, "ready": True}
        await count("warm", lobby.ready(SetReadyCommand.from_payload(host, rid(), ready)))
        await count("ready", lobby.ready(SetReadyCommand.from_payload(seated[1], rid(), ready)))
        await count(
            "warm", lobby.join(JoinRoomCommand.from_payload(users[1], rid(), {"code": code}))
        )
        for label in ("warm", "refused"):
            unknown = JoinRoomCommand.from_payload(host, rid(), {"code": "ZZZZZZ"})
            await count(label, lobby.join(unknown))
        get = GetRoomCommand.from_payload(host, rid(), {"room_id": room_id})
        await count("warm", lobby.get(get))
        await count("get_room", lobby.get(get))
    # As create_room: BEGIN, claim + display name + room, seats and names locked,
    # save + complete, COMMIT.
    assert counted["join"] == counted["ready"] == 4
    # BEGIN, claim (conflict: no lock), read the completed record, load (does it
    # still hold a seat? the connection then follows the room), ROLLBACK.
    assert counted["join replay"] == 5
    # BEGIN, claim + lock (no such code), complete (failed), COMMIT.
    assert counted["refused"] == 4
    # BEGIN, load, ROLLBACK.
    assert counted["get_room"] == 3
