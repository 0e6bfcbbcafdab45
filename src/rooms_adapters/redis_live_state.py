"""LiveStateCache over Redis: two hashes per room, written in one MULTI/EXEC.

    room:{room_id}:meta   HASH  status visibility owner_user_id code max_players
                                ruleset_id ruleset_config created_at_ms version
    room:{room_id}:seats  HASH  seat:0 .. seat:3 (JSON text; "{}" for an empty seat)

The field values come ready-made from :class:`rooms_domain.LiveRoomView`, so
this module only moves them. Every call is bounded by ``redis_timeout_s`` overall
and makes one attempt: the cache is best effort, a retry would only spend the
caller's budget. A :class:`CircuitBreaker` skips Redis for a while after a
failure, so a dead Redis costs one bounded wait per ``open_for_s``, not one per
request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from itertools import chain

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from rooms_adapters.circuit_breaker import CircuitBreaker
from rooms_adapters.redis_client import (
    PipelinedRedis,
    PipelinedScript,
    packed_command,
    redis_client,
)
from rooms_adapters.redis_errors import LiveStateSkipped, LiveStateUnavailable
from rooms_adapters.redis_guard import RedisGuard
from rooms_adapters.redis_live_apply import TOMBSTONE_TTL_S, apply_live_update, live_apply_script
from rooms_adapters.redis_pipeliner import RedisPipeliner
from rooms_adapters.redis_presence_keys import PresenceKeys
from rooms_domain.live_state import LiveRoomView, LiveUpdate
from rooms_domain.model import RoomId

__all__ = ["RedisLiveStateCache", "meta_key", "redis_client", "seats_key"]

logger = logging.getLogger(__name__)


def meta_key(room_id: RoomId) -> str:
    return f"room:{room_id}:meta"


def seats_key(room_id: RoomId) -> str:
    return f"room:{room_id}:seats"


class RedisLiveStateCache:
    """Implements ``rooms_domain.LiveStateCache``.

    Raises :class:`LiveStateUnavailable` when Redis fails or is slower than
    ``redis_timeout_s``, and its subclass :class:`LiveStateSkipped` when Redis
    is not even tried because the breaker (this cache's own) is open. A call
    cancelled by its caller counts as a Redis failure only once it has waited
    half of ``redis_timeout_s``, so a client going away does not open the
    breaker.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        redis_timeout_s: float = 0.25,
        breaker: CircuitBreaker | None = None,
        tombstone_ttl_s: int = TOMBSTONE_TTL_S,
        presence: PresenceKeys | None = None,
    ) -> None:
        self._client = client
        self._tombstone_ttl_s = tombstone_ttl_s
        # A view apply() creates from nothing asks presence who is connected.
        self._presence = presence
        # Every call of this cache is one pipelined request (see redis_pipeliner):
        # the writes of all requests ready in one loop turn share one socket write.
        if isinstance(client, PipelinedRedis):
            self._pipeliner, self._owns_pipeliner = client.pipeliner, False
        else:  # a client made elsewhere: a pipeliner of its own, closed by aclose()
            self._pipeliner = RedisPipeliner(client.connection_pool, stall_s=redis_timeout_s / 2)
            self._owns_pipeliner = True
        self._apply_script = PipelinedScript(
            client, live_apply_script(client).script, self._pipeliner
        )
        self._guard = RedisGuard(
            breaker if breaker is not None else CircuitBreaker(),
            timeout_s=redis_timeout_s,
            name="live state",
            logger=logger,
            unavailable=LiveStateUnavailable,
            skipped=LiveStateSkipped,
        )

    @property
    def breaker(self) -> CircuitBreaker:
        return self._guard.breaker

    @property
    def client(self) -> aioredis.Redis:
        """The Redis client it writes with (the sweep's Redis adapter shares it)."""
        return self._client

    async def aclose(self) -> None:
        """Close the pipeliner if this cache made it (``redis_client``'s close their own)."""
        if self._owns_pipeliner:
            await self._pipeliner.aclose()

    async def room_created(self, room_id: RoomId, view: LiveRoomView) -> None:
        # HSET of fixed values only: repeating the whole transaction yields the
        # same hashes, so a caller may safely write again after a failure.
        meta, seats = _hset(meta_key(room_id), view.meta), _hset(seats_key(room_id), view.seats)
        packed = b"".join((_MULTI, meta, seats, _EXEC))
        await self._guard.run(lambda: self._transaction(packed, 2), room_id)

    async def read(self, room_id: RoomId) -> LiveRoomView | None:
        packed = b"".join(
            (_MULTI, _hgetall(meta_key(room_id)), _hgetall(seats_key(room_id)), _EXEC)
        )
        meta, seats = await self._guard.run(lambda: self._transaction(packed, 2), room_id)
        if not meta and not seats:
            return None
        return LiveRoomView(_text_map(meta), _text_map(seats))

    async def apply(self, room_id: RoomId, update: LiveUpdate) -> None:
        keys = (meta_key(room_id), seats_key(room_id))
        outcome = await self._guard.run(
            lambda: apply_live_update(
                self._apply_script, keys, room_id, update, self._tombstone_ttl_s, self._presence
            ),
            room_id,
        )
        logger.debug("live state: room %s v%s %s", room_id, update.version, outcome)

    async def _transaction(self, packed: bytes, queued: int) -> list[object]:
        """MULTI, ``queued`` commands and EXEC, packed in ``packed``; the EXEC reply.

        What redis-py's ``pipeline(transaction=True).execute()`` does, at a
        fraction of its CPU (measured: 300-490 µs more per call through it):
        packed by hiredis in one ``bytes``, sent through the pipeliner with
        the other requests of this loop turn, the replies parsed by hiredis.
        """
        replies = await self._pipeliner.call(packed, queued + 2)  # +OK, +QUEUED each, EXEC
        if not isinstance(replies, list):
            raise RedisError("transaction aborted: EXEC returned no replies")
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies


_MULTI = packed_command(b"MULTI")
_EXEC = packed_command(b"EXEC")
_HSET = b"HSET"


def _hset(key: str, fields: Mapping[str, str]) -> bytes:
    """``HSET key field value ...`` as one RESP command."""
    return packed_command(_HSET, key, *chain.from_iterable(fields.items()))


def _hgetall(key: str) -> bytes:
    return packed_command(b"HGETALL", key)


def _text_map(raw: object) -> dict[str, str]:
    """An HGETALL reply (RESP2: a flat list, field then value) as a text map."""
    if not isinstance(raw, list) or len(raw) % 2:
        raise LiveStateUnavailable(f"unexpected reply from Redis: {type(raw).__name__}")
    return {_text(k): _text(v) for k, v in zip(raw[::2], raw[1::2], strict=True)}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
