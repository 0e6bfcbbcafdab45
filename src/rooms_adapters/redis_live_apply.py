"""The live-view step after a committed change: one Lua script, so Redis runs it atomically.

    KEYS  room:{id}:meta  room:{id}:seats  room:{id}:closed
    ARGV  version closed ttl_s channel #meta #seats meta... seats... event...

What it does, in one step that nothing else interleaves with:

- ``closed``: delete the meta and seats hashes, and set the tombstone
  ``room:{id}:closed`` to ``<version>:<closing time, ms, Redis's clock>``
  for ``ttl_s`` (the sweep deletes the room once that time is older than
  its retention: ``redis_housekeeping.py``);
- else, while the tombstone lives: write nothing (a late update of a closed
  room must not bring its view back);
- else, when the stored meta ``version`` is newer than or equal to the
  update's: write nothing (the view never goes back in time, whatever order
  two instances' steps land in);
- else write every field of the view, keeping the stored ``created_at_ms``
  and, in each seat still held by the same user, the stored ``joined_at_ms``
  and ``connected`` (``rooms_domain.live_state.KEPT_*_FIELDS``);
- then, in every case, PUBLISH each event on ``room:{id}:events``, in order.

Called through redis-py's ``Script`` (EVALSHA; on NOSCRIPT, after a Redis
restart, redis-py loads the script and runs it again).
"""

from __future__ import annotations

from itertools import chain

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from rooms_adapters.redis_events import channel_name
from rooms_domain.events import event_message
from rooms_domain.live_state import LiveUpdate
from rooms_domain.model import RoomId

# Long enough that no apply still in flight when the room closed can land
# after it (each is bounded by the cache's timeout, a fraction of a second;
# a request stuck in a socket buffer is delivered or dropped within minutes).
# A tombstone also carries the closing time for the sweep: it lives this
# long past the closed-room retention (``tombstone_ttl_s``), and the sweep
# shortens it back to this once the room is deleted.
TOMBSTONE_TTL_S = 3600


def tombstone_ttl_s(closed_retention_s: int) -> int:
    """How long a tombstone lives: through the retention, then as long as ever."""
    return closed_retention_s + TOMBSTONE_TTL_S


def closed_key(room_id: RoomId) -> str:
    return f"room:{room_id}:closed"


# Seat texts are ours (compact JSON), where a quote inside a string is always
# escaped: the patterns '"key":' below can only match a key, never a
# display name that happens to contain the same characters.
_SCRIPT = """
local version, closed, ttl, channel = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local n_meta, n_seats = tonumber(ARGV[5]), tonumber(ARGV[6])
local meta_at, seats_at = 7, 7 + 2 * n_meta
local events_at = seats_at + 2 * n_seats

local function user_of(seat)
  return string.match(seat, '"user_id":"([^"]*)"')
end

local function keep_stay(new, old)
  local user = user_of(new)
  if not user or user ~= user_of(old) then
    return new
  end
  for _, key in ipairs({'joined_at_ms', 'connected'}) do
    local pattern = '"' .. key .. '":([^,}]+)'
    local kept = string.match(old, pattern)
    if kept then
      new = string.gsub(new, pattern, function() return '"' .. key .. '":' .. kept end, 1)
    end
  end
  return new
end

local outcome
if closed == '1' then
  redis.call('DEL', KEYS[1], KEYS[2])
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('SET', KEYS[3], ARGV[1] .. ':' .. now_ms, 'EX', ttl)
  outcome = 'closed'
elseif redis.call('EXISTS', KEYS[3]) == 1 then
  outcome = 'tombstone'
else
  local stored = tonumber(redis.call('HGET', KEYS[1], 'version'))
  if stored and stored >= version then
    outcome = 'stale'
  else
    local meta = {}
    local created = redis.call('HGET', KEYS[1], 'created_at_ms')
    for i = meta_at, seats_at - 1, 2 do
      local value = ARGV[i + 1]
      if ARGV[i] == 'created_at_ms' and created then
        value = created
      end
      meta[#meta + 1] = ARGV[i]
      meta[#meta + 1] = value
    end
    local fields = {}
    for i = seats_at, events_at - 1, 2 do
      fields[#fields + 1] = ARGV[i]
    end
    local seats = {}
    if #fields > 0 then
      local olds = redis.call('HMGET', KEYS[2], unpack(fields))
      for j, field in ipairs(fields) do
        local value = ARGV[seats_at + 2 * j - 1]
        if olds[j] then
          value = keep_stay(value, olds[j])
        end
        seats[#seats + 1] = field
        seats[#seats + 1] = value
      end
      redis.call('HSET', KEYS[2], unpack(seats))
    end
    if #meta > 0 then
      redis.call('HSET', KEYS[1], unpack(meta))
    end
    outcome = 'written'
  end
end

for i = events_at, #ARGV do
  redis.call('PUBLISH', channel, ARGV[i])
end
return outcome
"""


def live_apply_script(client: aioredis.Redis) -> AsyncScript:
    """The step registered with ``client``: once, at start-up, not per update."""
    return client.register_script(_SCRIPT)


async def apply_live_update(
    script: AsyncScript,
    keys: tuple[str, str],
    room_id: RoomId,
    update: LiveUpdate,
    ttl_s: int = TOMBSTONE_TTL_S,
) -> str:
    """Run the step for ``room_id`` (``keys``: its meta and seats hashes); what it did.

    ``script`` is the step as ``live_apply_script`` registered it.

    One of ``written``, ``stale``, ``tombstone`` or ``closed``. Redis errors
    propagate: bounding and translating them is the caller's.
    """
    view = update.view
    args = (
        update.version,
        "1" if update.closed else "0",
        ttl_s,
        channel_name(room_id),
        len(view.meta),
        len(view.seats),
        *chain.from_iterable(view.meta.items()),
        *chain.from_iterable(view.seats.items()),
        *(event_message(event) for event in update.events),
    )
    outcome = await script(keys=[*keys, closed_key(room_id)], args=args)
    return outcome.decode() if isinstance(outcome, bytes) else str(outcome)
