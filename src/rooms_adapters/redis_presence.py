"""Presence over Redis: who follows which room, on which live instance.

    presence:instances           ZSET  instance id -> its last beat (ms)
    presence:instance:{id}       SET   "room_id/user_id" this instance follows
    presence:held                ZSET  "room_id/user_id" -> since when the seat is held (ms)
    presence:dropped:{id}        STR   set by whoever dropped some of that instance's entries
    room:{room_id}:presence      SET   "user_id/instance_id" with a socket following the room

(``presence`` is the adapter's ``prefix``.)

An instance is alive while its last beat is recent (``dead_after_ms``); it
beats every third of ``ROOMS_PRESENCE_TIMEOUT_SECONDS``. Nothing expires by
TTL: a dead instance's entries stay until a live instance's
:meth:`expire_instances` finds its beat too old and drops them one by one,
each exactly as a closing socket would (``SPOP``: two instances checking at
once never drop the same entry twice), then marks it ``dropped``. A user is
connected in a room while ``room:{id}:presence`` names them with a live instance.

The mark, not the beat's age alone, tells a frozen instance that it lost
entries: its own clock may find its last beat recent while another's found
it old (each passes its own ``now``), and the other's drops, one script each,
may land after the frozen one, told it was dead, announced its users again.
Every drop is followed by the mark, and the next beat that finds the mark
answers "announce again": the last word is always the instance's own.

Each transition is one Lua script, so the seat's ``connected`` in
``room:{id}:seats``, the held-seat index and the event on
``room:{id}:events`` change together and in the channel's order. The
scripts touch keys named in the data (another instance's beat), which is
fine on one Redis and would need hash tags on a Redis Cluster.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis

from rooms_adapters.circuit_breaker import CircuitBreaker
from rooms_adapters.redis_client import script
from rooms_adapters.redis_errors import LiveStateSkipped, LiveStateUnavailable
from rooms_adapters.redis_events import channel_name
from rooms_adapters.redis_guard import RedisGuard
from rooms_adapters.redis_live_state import meta_key, seats_key
from rooms_adapters.redis_presence_keys import (
    PREFIX,
    SEAT_EVENT_LUA,
    PresenceKeys,
    room_presence_key,
)
from rooms_domain.model import RoomId, UserId
from rooms_domain.presence import HeldSeat, dead_after_ms

__all__ = ["PREFIX", "RedisPresence", "room_presence_key"]

T = TypeVar("T")

logger = logging.getLogger(__name__)

# A dropped mark outlives many beats of a live instance (it is read at the
# next one); an instance that never beats again leaves it to expire.
_DROPPED_MARK_BEATS = 30


# Seat texts are compact JSON written by us (see redis_live_apply): the
# patterns below match keys only.
_FLIP = (
    SEAT_EVENT_LUA
    + """
local function flip(seats_key, meta_key, channel, room, user, connected, kind)
  local all = redis.call('HGETALL', seats_key)
  for i = 1, #all, 2 do
    local text = all[i + 1]
    if string.match(text, '"user_id":"([^"]*)"') == user then
      if string.match(text, '"connected":([^,}]+)') == connected then
        return 0
      end
      text = string.gsub(text, '"connected":[^,}]+', '"connected":' .. connected, 1)
      redis.call('HSET', seats_key, all[i], text)
      local version = redis.call('HGET', meta_key, 'version') or '0'
      local index = string.sub(all[i], 6)
      redis.call('PUBLISH', channel, seat_event(kind, room, version, index, user))
      return 1
    end
  end
  return -1
end
"""
)

# KEYS room_presence instance_set held seats meta instances
# ARGV room user instance now channel dead_after
_CONNECT = (
    _FLIP
    + """
local room, user, instance = ARGV[1], ARGV[2], ARGV[3]
redis.call('SADD', KEYS[1], user .. '/' .. instance)
redis.call('SADD', KEYS[2], room .. '/' .. user)
redis.call('ZREM', KEYS[3], room .. '/' .. user)
return flip(KEYS[4], KEYS[5], ARGV[5], room, user, 'true', 'player_reconnected')
"""
)

_DISCONNECT = (
    _FLIP
    + """
local room, user, instance = ARGV[1], ARGV[2], ARGV[3]
local now, dead_after = tonumber(ARGV[4]), tonumber(ARGV[6])
redis.call('SREM', KEYS[1], user .. '/' .. instance)
redis.call('SREM', KEYS[2], room .. '/' .. user)
local prefix = user .. '/'
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if string.sub(member, 1, #prefix) == prefix then
    local beat = tonumber(redis.call('ZSCORE', KEYS[6], string.sub(member, #prefix + 1)))
    if beat and beat >= now - dead_after then
      return 0
    end
  end
end
local flipped = flip(KEYS[4], KEYS[5], ARGV[5], room, user, 'false', 'player_disconnected')
if flipped < 0 then
  return 0
end
redis.call('ZADD', KEYS[3], 'NX', now, room .. '/' .. user)
return flipped
"""
)

# KEYS instances dropped   ARGV instance now dead_after
_BEAT = """
local last = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local dropped = redis.call('DEL', KEYS[2])
if last and last >= tonumber(ARGV[2]) - tonumber(ARGV[3]) and dropped == 0 then
  return 1
end
return 0
"""

# A dead instance with nothing left is forgotten, unless it beat meanwhile.
# KEYS instances instance_set   ARGV instance threshold
_FORGET_INSTANCE = """
local beat = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if beat and beat < tonumber(ARGV[2]) and redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


class RedisPresence:
    """Implements ``rooms_domain.presence.Presence``; Redis failures and timeouts
    raise :class:`LiveStateUnavailable`."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        timeout_s: float,
        redis_timeout_s: float = 0.5,
        prefix: str = PREFIX,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._client = client
        # Its own: while Redis is down, a follow costs no wait (the tracker
        # retries at its next beat), and the cache's breaker is not spent.
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self.keys = PresenceKeys(dead_after_ms(timeout_s), prefix)
        self.instances_key = self.keys.instances
        self.held_key = self.keys.held
        self._dead_after_ms = self.keys.dead_after_ms
        self._guard = RedisGuard(
            self.breaker,
            timeout_s=redis_timeout_s,
            name="presence",
            logger=logger,
            unavailable=LiveStateUnavailable,
            skipped=LiveStateSkipped,
        )
        # The per-follow transitions share the requests' pipelined connection.
        self._connect = script(client, _CONNECT)
        self._disconnect = script(client, _DISCONNECT)
        self._beat = client.register_script(_BEAT)
        self._forget_instance = client.register_script(_FORGET_INSTANCE)

    async def beat(self, instance: str, now_ms: int) -> bool:
        keys = [self.instances_key, self.dropped_key(instance)]
        alive = await self._guarded(
            lambda: self._beat(keys=keys, args=[instance, now_ms, self._dead_after_ms])
        )
        return bool(alive == 1)

    async def connect(self, room_id: RoomId, user_id: UserId, instance: str, now_ms: int) -> bool:
        flipped = await self._guarded(
            lambda: self._connect(
                keys=self._keys(room_id, instance),
                args=self._args(room_id, user_id, instance, now_ms),
            )
        )
        return bool(flipped == 1)

    async def disconnect(
        self, room_id: RoomId, user_id: UserId, instance: str, now_ms: int
    ) -> bool:
        flipped = await self._guarded(
            lambda: self._disconnect(
                keys=self._keys(room_id, instance),
                args=self._args(room_id, user_id, instance, now_ms),
            )
        )
        return bool(flipped == 1)

    async def retire(self, instance: str, now_ms: int) -> None:
        # Normally nothing is left (every session unfollowed before): then one call.
        while await self._expire(instance, 500, now_ms, threshold=now_ms + 1):
            pass
        await self._guarded(lambda: self._client.zrem(self.instances_key, instance))

    async def expire_instances(self, now_ms: int, limit: int) -> int:
        threshold = now_ms - self._dead_after_ms
        client: Any = self._client  # redis-py's stubs type replies loosely
        dead = await self._guarded(
            lambda: client.zrangebyscore(self.instances_key, "-inf", f"({threshold}", 0, 16)
        )
        dropped = 0
        for raw in dead:
            if dropped >= limit:
                break
            dropped += await self._expire(_text(raw), limit - dropped, now_ms, threshold)
        return dropped

    async def _expire(self, instance: str, limit: int, now_ms: int, threshold: int) -> int:
        """Drop up to ``limit`` entries of one dead instance; forget it once none is left."""
        client: Any = self._client
        members = await self._guarded(lambda: client.spop(self.instance_key(instance), limit))
        for member in members or ():
            room_id, user_id = _seat_of(member)
            await self.disconnect(room_id, user_id, instance, now_ms)
        if members:
            # After the drops: should the instance be alive after all, its next
            # beat tells it to announce again what it follows.
            mark = self.dropped_key(instance)
            ttl_ms = self._dead_after_ms * _DROPPED_MARK_BEATS
            await self._guarded(lambda: self._client.set(mark, 1, px=ttl_ms))
        keys = [self.instances_key, self.instance_key(instance)]
        await self._guarded(lambda: self._forget_instance(keys=keys, args=[instance, threshold]))
        return len(members or ())

    async def held(self, since_until_ms: int, limit: int) -> list[HeldSeat]:
        client: Any = self._client
        rows = await self._guarded(
            lambda: client.zrangebyscore(
                self.held_key, "-inf", since_until_ms, 0, limit, withscores=True
            )
        )
        seats = []
        for member, score in rows:
            seats.append(HeldSeat(*_seat_of(member), int(score)))
        return seats

    async def is_held(self, room_id: RoomId, user_id: UserId) -> bool:
        return await self.held_since_ms(room_id, user_id) is not None

    async def held_since_ms(self, room_id: RoomId, user_id: UserId) -> int | None:
        score = await self._guarded(
            lambda: self._client.zscore(self.held_key, _held(room_id, user_id))
        )
        return None if score is None else int(score)

    async def forget(self, room_id: RoomId, user_id: UserId) -> None:
        await self._guarded(lambda: self._client.zrem(self.held_key, _held(room_id, user_id)))

    async def postpone(self, room_id: RoomId, user_id: UserId, now_ms: int) -> None:
        await self._guarded(
            lambda: self._client.zadd(self.held_key, {_held(room_id, user_id): now_ms}, xx=True)
        )

    async def held_count(self) -> int:
        return int(await self._guarded(lambda: self._client.zcard(self.held_key)))

    def instance_key(self, instance: str) -> str:
        return self.keys.instance(instance)

    def dropped_key(self, instance: str) -> str:
        return self.keys.dropped(instance)

    def _keys(self, room_id: RoomId, instance: str) -> list[str]:
        return [
            room_presence_key(room_id),
            self.instance_key(instance),
            self.held_key,
            seats_key(room_id),
            meta_key(room_id),
            self.instances_key,
        ]

    def _args(self, room_id: RoomId, user_id: UserId, instance: str, now_ms: int) -> list[Any]:
        return [
            str(room_id),
            str(user_id),
            instance,
            now_ms,
            channel_name(room_id),
            self._dead_after_ms,
        ]

    async def _guarded(self, call: Callable[[], Awaitable[T]]) -> T:
        return await self._guard.run(call)


def _held(room_id: RoomId, user_id: UserId) -> str:
    return f"{room_id}/{user_id}"


def _seat_of(member: bytes | str) -> tuple[RoomId, UserId]:
    """The inverse of ``_held``."""
    room, user = _text(member).split("/", 1)
    return RoomId(uuid.UUID(room)), UserId(uuid.UUID(user))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
