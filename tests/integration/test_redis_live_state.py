"""The live-state hashes on a real Redis, field by field, as contract §4 fixes them."""

from __future__ import annotations

import json

import pytest

from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_live_state import RedisLiveStateCache, meta_key, seats_key
from rooms_domain import SystemClock
from tests.contracts.live_state import META_FIELDS, SEAT_FIELDS
from tests.integration.redis_support import admin_client, create_room_with
from tests.unit.harness import command

pytestmark = pytest.mark.integration

HOUSEKEEPING = {"hello", "client", "config"}  # connection handshake and the test's own reset


def text(raw: dict[bytes | str, bytes | str]) -> dict[str, str]:
    return {_str(k): _str(v) for k, v in raw.items()}


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def command_calls(client_url: str) -> dict[str, int]:
    admin = admin_client(client_url)
    try:
        stats = await admin.info("commandstats")
    finally:
        await admin.aclose()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


async def test_a_created_room_is_written_exactly_as_the_contract_says(
    fault_redis: EmbeddedRedis,
) -> None:
    # A private server: its command statistics count our commands only.
    client = redis_client(fault_redis.url, redis_timeout_s=2.0)
    cache = RedisLiveStateCache(client, redis_timeout_s=2.0)
    create, host = create_room_with(cache, "Zoë", live_state_timeout_s=5.0)
    config = {"deck": "short", "ñ": [1, 2], "nested": {"b": 1, "a": None}}
    admin = admin_client(fault_redis.url)
    try:
        await admin.config_resetstat()
        before_ms = SystemClock().now_ms()
        result = await create(command(host, max_players=3, ruleset_config=config))
        after_ms = SystemClock().now_ms()
        calls = await command_calls(fault_redis.url)
        meta = text(await admin.hgetall(meta_key(result.room_id)))
        seats = text(await admin.hgetall(seats_key(result.room_id)))
        types = {
            await admin.type(meta_key(result.room_id)),
            await admin.type(seats_key(result.room_id)),
        }
    finally:
        await admin.aclose()
        await client.aclose()

    assert types == {b"hash"}
    assert set(meta) == META_FIELDS
    assert meta["status"] == "open"
    assert meta["visibility"] == "private"
    assert meta["owner_user_id"] == str(host)
    assert meta["code"] == str(result.code)
    assert meta["max_players"] == "3"
    assert meta["ruleset_id"] == "classic"
    assert json.loads(meta["ruleset_config"]) == config
    assert meta["ruleset_config"] == '{"deck":"short","nested":{"a":null,"b":1},"ñ":[1,2]}'
    assert meta["version"] == "0"
    assert before_ms <= int(meta["created_at_ms"]) <= after_ms  # epoch milliseconds

    assert set(seats) == {"seat:0", "seat:1", "seat:2", "seat:3"}
    host_seat = json.loads(seats["seat:0"])
    assert set(host_seat) == SEAT_FIELDS
    assert host_seat == {
        "user_id": str(host),
        "display_name": "Zoë",
        "ready": "not_ready",
        "connected": True,
        "is_host": True,
        "joined_at_ms": int(meta["created_at_ms"]),
    }
    assert seats["seat:1"] == seats["seat:2"] == seats["seat:3"] == "{}"

    # One MULTI/EXEC carrying both HSETs, and nothing else but the handshake
    # (HELLO, CLIENT SETINFO) and this test's own CONFIG RESETSTAT.
    data_commands = {name: n for name, n in calls.items() if name not in HOUSEKEEPING}
    assert data_commands == {"multi": 1, "hset": 2, "exec": 1}
