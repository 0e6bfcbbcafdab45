"""LiveStateCache over Redis: two hashes per room, written in one MULTI/EXEC (contract §4).

    room:{room_id}:meta   HASH  status visibility owner_user_id code max_players
                                ruleset_id ruleset_config created_at_ms version
    room:{room_id}:seats  HASH  seat:0 .. seat:3 (JSON text; "{}" for an empty seat)

The field values come ready-made from :class:`rooms_domain.LiveRoomView`, so
this module only moves them. Every call is bounded by ``timeout_s`` overall
and makes one attempt: the cache is best effort, a retry would only spend the
caller's budget. A :class:`CircuitBreaker` skips Redis for a while after a
failure, so a dead Redis costs one bounded wait per ``open_for_s``, not one per
request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.typing import EncodableT

from rooms_adapters.circuit_breaker import BreakerState, CircuitBreaker
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_errors import LiveStateSkipped, LiveStateUnavailable
from rooms_domain.live_state import LiveRoomView
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
    ``timeout_s``, and its subclass :class:`LiveStateSkipped` when Redis is
    not even tried because the breaker is open. A call cancelled by its
    caller counts as a Redis failure only once it has waited half of
    ``timeout_s``, so a client going away does not open the breaker.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        timeout_s: float = 0.25,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self.breaker = breaker if breaker is not None else CircuitBreaker()

    async def room_created(self, room_id: RoomId, view: LiveRoomView) -> None:
        # HSET of fixed values only: repeating the whole transaction yields the
        # same hashes, so a caller may safely write again after a failure.
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(meta_key(room_id), mapping=_fields(view.meta))
        pipe.hset(seats_key(room_id), mapping=_fields(view.seats))
        await self._guarded(room_id, pipe)

    async def read(self, room_id: RoomId) -> LiveRoomView | None:
        pipe = self._client.pipeline(transaction=True)
        pipe.hgetall(meta_key(room_id))
        pipe.hgetall(seats_key(room_id))
        meta, seats = await self._guarded(room_id, pipe)
        if not meta and not seats:
            return None
        return LiveRoomView(_text_map(meta), _text_map(seats))

    async def _guarded(self, room_id: RoomId, pipe: aioredis.client.Pipeline) -> list[object]:
        if not self.breaker.allow():
            raise LiveStateSkipped(
                f"Redis skipped for room {room_id}: circuit open after a recent failure"
            )
        # allow() admits exactly one caller while half-open: this one.
        trial = self.breaker.state is BreakerState.HALF_OPEN
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(self._timeout_s):
                result: list[object] = await pipe.execute()
        except TimeoutError as exc:
            self._failed(f"no answer within {self._timeout_s}s")
            raise LiveStateUnavailable(
                f"Redis did not answer within {self._timeout_s}s for room {room_id}"
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
            if asyncio.get_running_loop().time() - started >= self._timeout_s / 2:
                self._failed("no answer before the caller gave up")
            elif trial:
                self.breaker.abandon_trial()
            raise
        if trial:
            logger.info("live state: Redis answers again; circuit closed")
        self.breaker.record_success()
        return result

    def _failed(self, reason: str) -> None:
        was = self.breaker.state
        self.breaker.record_failure()
        # Once per opening (so at most once per open_for_s while Redis is
        # down), not once per request: the use case logs each room anyway.
        log = logger.warning if was is BreakerState.CLOSED else logger.info
        log(
            "live state: Redis failing (%s); skipping it for %.1fs",
            reason,
            self.breaker.open_for_s,
        )


def _fields(values: Mapping[str, str]) -> dict[EncodableT, EncodableT]:
    return dict(values.items())


def _text_map(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise LiveStateUnavailable(f"unexpected reply from Redis: {type(raw).__name__}")
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
