"""A room's state in PostgreSQL (the truth) and in its Redis live view, read and compared.

Rooms are plain dicts as PostgreSQL holds them (``rooms_in_postgresql``), so
a test can compare them with what clients saw and with the live view
(``room:{id}:meta`` / ``room:{id}:seats``, docs/operations.md) without the domain.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from tests.integration.server_process import fetch


async def rooms_in_postgresql(dsn: str, room_ids: list[str]) -> dict[str, dict[str, Any]]:
    rooms = await fetch(
        dsn,
        "SELECT room_id::text, status::text, version, max_players FROM rooms"
        " WHERE room_id = ANY($1::uuid[])",
        room_ids,
    )
    seats = await fetch(
        dsn,
        "SELECT room_id::text, seat_index, status::text, user_id::text, is_host, ready::text"
        " FROM room_seats WHERE room_id = ANY($1::uuid[]) ORDER BY seat_index",
        room_ids,
    )
    found = {r["room_id"]: dict(r) | {"seats": []} for r in rooms}
    for seat in seats:
        found[seat["room_id"]]["seats"].append(dict(seat))
    return found


def assert_consistent(room: dict[str, Any]) -> None:
    occupied = [s for s in room["seats"] if s["status"] == "occupied"]
    assert len(occupied) <= room["max_players"], room
    assert all(s["seat_index"] < room["max_players"] for s in occupied), room
    assert len({s["user_id"] for s in occupied}) == len(occupied), room
    assert all(
        s["user_id"] is None and not s["is_host"] for s in room["seats"] if s not in occupied
    )
    if occupied:
        assert room["status"] == "open", room
        assert sum(s["is_host"] for s in occupied) == 1, room
    else:
        assert room["status"] == "closed", room


async def live_view(redis: aioredis.Redis, room_id: str) -> tuple[dict[str, str], dict[int, Any]]:
    """The room's ``meta`` hash and its seats (index -> the seat JSON, decoded)."""
    meta = await redis.hgetall(f"room:{room_id}:meta")
    seats = await redis.hgetall(f"room:{room_id}:seats")
    return meta, {int(name.split(":")[1]): json.loads(text) for name, text in seats.items()}


async def view_differences(redis: aioredis.Redis, room: dict[str, Any]) -> list[str]:
    """Where the Redis view of ``room`` says other than PostgreSQL (meta and every seat)."""
    meta, seats = await live_view(redis, room["room_id"])
    differences = [
        f"{name}: {meta.get(name)!r} in Redis, {room[name]!r} in PostgreSQL"
        for name in ("version", "status")
        if meta.get(name) != str(room[name])
    ]
    for row in room["seats"]:
        seat = seats.get(row["seat_index"])
        expected = (
            {"user_id": row["user_id"], "ready": row["ready"], "is_host": row["is_host"]}
            if row["status"] == "occupied"
            else {"user_id": None, "ready": "not_ready", "is_host": False}
        )
        got = None
        if seat is not None:
            got = {
                "user_id": seat.get("user_id"),
                "ready": seat.get("ready", "not_ready"),
                "is_host": seat.get("is_host", False),
            }
        if got != expected:
            differences.append(
                f"seat {row['seat_index']}: {got} in Redis, {expected} in PostgreSQL"
            )
    return differences


async def view_matches(redis: aioredis.Redis, room: dict[str, Any]) -> bool:
    """The Redis view of ``room`` says what PostgreSQL says (meta and every seat)."""
    return not await view_differences(redis, room)
