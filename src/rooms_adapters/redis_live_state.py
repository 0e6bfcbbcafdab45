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

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from itertools import chain

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import RedisError

from rooms_adapters.circuit_breaker import BreakerState, CircuitBreaker
from rooms_adapters.redis_client import packed_command, redis_client
from rooms_adapters.redis_errors import LiveStateSkipped, LiveStateUnavailable
from rooms_adapters.redis_live_apply import TOMBSTONE_TTL_S, apply_live_update, live_apply_script
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
        self._apply_script = live_apply_script(client)
        self._redis_timeout_s = redis_timeout_s
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        # Connections kept checked out of the client's pool for room_created.
        self._kept: set[Connection] = set()
        self._idle: list[Connection] = []

    @property
    def client(self) -> aioredis.Redis:
        """The Redis client it writes with (the sweep's Redis adapter shares it)."""
        return self._client

    async def room_created(self, room_id: RoomId, view: LiveRoomView) -> None:
        # HSET of fixed values only: repeating the whole transaction yields the
        # same hashes, so a caller may safely write again after a failure.
        meta, seats = _hset(meta_key(room_id), view.meta), _hset(seats_key(room_id), view.seats)
        packed = b"".join((_MULTI, meta, seats, _EXEC))
        await self._guarded(room_id, lambda: self._transaction(packed, 2))

    async def read(self, room_id: RoomId) -> LiveRoomView | None:
        pipe = self._client.pipeline(transaction=True)
        pipe.hgetall(meta_key(room_id))
        pipe.hgetall(seats_key(room_id))
        meta, seats = await self._guarded(room_id, pipe.execute)
        if not meta and not seats:
            return None
        return LiveRoomView(_text_map(meta), _text_map(seats))

    async def apply(self, room_id: RoomId, update: LiveUpdate) -> None:
        keys = (meta_key(room_id), seats_key(room_id))
        outcome = await self._guarded(
            room_id,
            lambda: _listed(
                apply_live_update(
                    self._apply_script, keys, room_id, update, self._tombstone_ttl_s, self._presence
                )
            ),
        )
        logger.debug("live state: room %s v%s %s", room_id, update.version, outcome[0])

    async def _transaction(self, packed: bytes, queued: int) -> list[object]:
        """Send MULTI, ``queued`` commands and EXEC at once; the EXEC reply.

        What redis-py's ``pipeline(transaction=True).execute()`` does, for a
        write that runs per create, at about a third of its CPU (measured
        with hiredis: ~0.3 ms more per write through the pipeline, against
        ~0.75 ms of server CPU per room in all): the request is
        packed by hiredis in one ``bytes`` and goes through the public
        ``send_packed_command`` / ``read_response`` of a connection this cache
        keeps checked out of the client's pool (the pool still closes it with
        the client), so neither the pool's lock and bookkeeping nor
        per-command packing run per call. Such a connection has no socket
        timeout of its own: ``_guarded`` bounds the whole call, and a call cut
        short drops the connection, which then reconnects on its next use
        (replies are never read out of step).
        """
        pool = self._client.connection_pool
        kept = bool(self._idle) or len(self._kept) < _KEPT_CONNECTIONS
        if self._idle:
            conn = self._idle.pop()
            if conn.is_connected and await conn.can_read():
                # EOF (or stray bytes) on an idle connection: Redis went away
                # (restart, failover) since it was last used. Start afresh
                # instead of failing on it.
                await conn.disconnect(nowait=True)  # send_packed_command reconnects
        else:
            conn = await pool.get_connection()  # type: ignore[no-untyped-call]
            if kept:
                conn.socket_timeout = None  # bounded by _guarded instead
                self._kept.add(conn)
        try:
            await conn.send_packed_command(packed, check_health=False)
            for _ in range(queued + 1):  # +OK for MULTI, +QUEUED per command
                await conn.read_response(timeout=_NO_SOCKET_TIMEOUT)
            replies = await conn.read_response(timeout=_NO_SOCKET_TIMEOUT)
        except BaseException:
            # Whatever was left unread would answer the next call: drop it,
            # and the idle ones too, which the same fault has likely broken.
            await conn.disconnect(nowait=True)
            for idle in self._idle:
                await idle.disconnect(nowait=True)
            if not kept:
                await pool.release(conn)
            else:
                self._idle.append(conn)
            raise
        if kept:
            self._idle.append(conn)
        else:
            await pool.release(conn)
        if not isinstance(replies, list):
            raise RedisError("transaction aborted: EXEC returned no replies")
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _guarded(
        self, room_id: RoomId, call: Callable[[], Awaitable[list[object]]]
    ) -> list[object]:
        if not self.breaker.allow():
            raise LiveStateSkipped(
                f"Redis skipped for room {room_id}: circuit open after a recent failure"
            )
        # allow() admits exactly one caller while half-open: this one.
        trial = self.breaker.state is BreakerState.HALF_OPEN
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(self._redis_timeout_s):
                result: list[object] = await call()
        except TimeoutError as exc:
            self._failed(f"no answer within {self._redis_timeout_s}s")
            raise LiveStateUnavailable(
                f"Redis did not answer within {self._redis_timeout_s}s for room {room_id}"
            ) from exc
        except (RedisError, OSError) as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            raise LiveStateUnavailable(f"Redis failed for room {room_id}: {exc}") from exc
        except asyncio.CancelledError:
            # The caller gave up. Late in our budget, that is Redis being slow
            # (say the caller's own bound equals ours and fired first); early,
            # the caller just went away (closed socket, shutdown), which says
            # nothing about Redis: then only make sure a trial does not stay
            # pending for good.
            if asyncio.get_running_loop().time() - started >= self._redis_timeout_s / 2:
                self._failed("no answer before the caller gave up")
            elif trial:
                self.breaker.abandon_trial()
            raise
        if trial:
            logger.info("live state: Redis answers again; circuit closed")
        self.breaker.record_success()
        return result

    def _failed(self, reason: str) -> None:
        # Logged once per opening, not once per request: the use case logs each room anyway.
        message = "live state: Redis failing (%s); skipping it for %.1fs"
        self.breaker.record_failure_logged(logger, message, reason)


# At most this many connections stay checked out for room_created (fewer
# than the pool's, which read() and others share); calls beyond them borrow
# one from the pool for the call.
_KEPT_CONNECTIONS = 8
_NO_SOCKET_TIMEOUT = math.inf  # redis-py's "no per-read timeout"
_MULTI = packed_command(b"MULTI")
_EXEC = packed_command(b"EXEC")
_HSET = b"HSET"


def _hset(key: str, fields: Mapping[str, str]) -> bytes:
    """``HSET key field value ...`` as one RESP command."""
    return packed_command(_HSET, key, *chain.from_iterable(fields.items()))


async def _listed(step: Awaitable[str]) -> list[object]:
    return [await step]


def _text_map(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise LiveStateUnavailable(f"unexpected reply from Redis: {type(raw).__name__}")
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
