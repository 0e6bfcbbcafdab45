"""ClosingTimes and ViewVersions over Redis, for the sweep (``rooms_domain.housekeeping``).

The closing time of a room is in its tombstone ``room:{id}:closed``,
``<version>:<ms>``, written by the live-view step that closed it
(``redis_live_apply.py``), on Redis's clock. One batch of rooms is one Lua
script, so Redis's clock is the only one that ever dates a closing:

- a tombstone with a time: the room is due once that time is
  ``retention_ms`` old;
- none (expired, Redis flushed or replaced, a room closed while Redis was
  down): the script writes ``seen:<now>``, and the room is due
  ``retention_ms`` after this first sighting.

The views' versions of a batch of rooms are one script call too: one
command with the batch's keys and one array back, where a pipeline of one
``HGET`` per room cost redis-py several times the CPU (a command packed and
a reply parsed per room).

The cluster's pacing of rounds (``RoundPacing``) is one key per paced thing,
``<prefix>:sweep:<what>``, set with ``NX PX every_ms``: it exists while the
last claim is younger than ``every_ms`` (Redis's clock again), and the
``SET`` is the atomic check-and-set.

Once the rooms are deleted, :meth:`forget` lets each tombstone expire
``TOMBSTONE_TTL_S`` after its closing (at once if that is past), as it did
before it carried times. Every call is bounded by ``timeout_s`` and raises
:class:`LiveStateUnavailable` on a Redis failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from rooms_adapters.redis_errors import LiveStateUnavailable
from rooms_adapters.redis_live_apply import TOMBSTONE_TTL_S, closed_key
from rooms_adapters.redis_live_state import meta_key
from rooms_domain.model import RoomId

T = TypeVar("T")

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
_DUE = (
    _NOW
    + """
local retention, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  local at = value and tonumber(string.match(value, ':(%d+)$'))
  if not at then
    redis.call('SET', key, 'seen:' .. now, 'EX', ttl)
    at = now
  end
  if now - at >= retention then
    due[#due + 1] = i
  end
end
return due
"""
)
_FORGET = (
    _NOW
    + """
local keep = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  local at = value and tonumber(string.match(value, ':(%d+)$'))
  if at and at + keep > now then
    redis.call('PEXPIREAT', key, at + keep)
  else
    redis.call('DEL', key)
  end
end
return 0
"""
)
# Lua's false becomes a nil reply: a room without a view.
_VERSIONS = """
local versions = {}
for i, key in ipairs(KEYS) do
  versions[i] = redis.call('HGET', key, 'version') or false
end
return versions
"""


class RedisHousekeeping:
    """Implements ``ClosingTimes``, ``ViewVersions`` and ``RoundPacing``."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        ttl_s: int,
        timeout_s: float = 5.0,
        pacing_prefix: str = "presence",
    ) -> None:
        self._client = client
        self._pacing_prefix = pacing_prefix  # the cluster's keys (ROOMS_PRESENCE_KEY_PREFIX)
        self._ttl_s = ttl_s  # of a tombstone written at first sighting
        self._timeout_s = timeout_s
        self._due = client.register_script(_DUE)
        self._forget = client.register_script(_FORGET)
        self._versions = client.register_script(_VERSIONS)

    async def due(self, room_ids: Sequence[RoomId], retention_ms: int) -> list[RoomId]:
        keys = [closed_key(room_id) for room_id in room_ids]
        found = await self._bounded(self._due(keys=keys, args=[retention_ms, self._ttl_s]))
        return [room_ids[int(i) - 1] for i in found]

    async def forget(self, room_ids: Sequence[RoomId]) -> None:
        keys = [closed_key(room_id) for room_id in room_ids]
        await self._bounded(self._forget(keys=keys, args=[TOMBSTONE_TTL_S * 1000]))

    async def versions(self, room_ids: Sequence[RoomId]) -> list[int | None]:
        if not room_ids:
            return []
        keys = [meta_key(room_id) for room_id in room_ids]
        replies = await self._bounded(self._versions(keys=keys))
        return [None if v is None else int(v) for v in replies]

    async def claim(self, what: str, every_ms: int) -> bool:
        key = f"{self._pacing_prefix}:sweep:{what}"
        done = await self._bounded(self._client.set(key, "1", px=every_ms, nx=True))
        return bool(done)

    async def _bounded(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await call
        except TimeoutError as exc:
            raise LiveStateUnavailable(
                f"Redis did not answer the sweep within {self._timeout_s}s"
            ) from exc
        except (RedisError, OSError) as exc:
            raise LiveStateUnavailable(f"Redis failed for the sweep: {exc}") from exc
