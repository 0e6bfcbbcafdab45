"""Helpers for the Redis integration tests."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from rooms_adapters.memory import MemoryUnitOfWorkFactory
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_events import channel_name
from rooms_domain import (
    CreateRoom,
    LiveStateCache,
    RoomId,
    SecureCodeGenerator,
    SystemClock,
    UserId,
)


class ManualClock:
    """A monotonic clock for the circuit breaker that only the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def create_room_with(
    live_state: LiveStateCache, host_name: str = "Ann", **options: float
) -> tuple[CreateRoom, UserId]:
    """A CreateRoom on the in-memory stores and ``live_state``, and a user it knows."""
    uow_factory = MemoryUnitOfWorkFactory()
    host = UserId(uuid.uuid4())
    uow_factory.db.add_user(host, host_name)
    create = CreateRoom(
        uow_factory=uow_factory,
        codes=SecureCodeGenerator(),
        live_state=live_state,
        clock=SystemClock(),
        **options,
    )
    return create, host


def admin_client(url: str) -> aioredis.Redis:
    """A client for the test's own checks, with generous timeouts."""
    return redis_client(url, redis_timeout_s=5.0)


async def subscribers(client: aioredis.Redis, room_id: RoomId) -> int:
    """How many connections, over all processes, subscribe to the room's channel."""
    counts = await client.pubsub_numsub(channel_name(room_id))
    return int(counts[0][1])


async def pubsub_connections(client: aioredis.Redis, name: str) -> int:
    """Connections named ``name`` that hold at least one subscription."""
    clients = await client.client_list(_type="pubsub")
    return sum(1 for c in clients if c.get("name") == name)
