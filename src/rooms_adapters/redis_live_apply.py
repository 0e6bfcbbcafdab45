"""The live-view step after a committed change: one Lua script, so Redis runs it atomically.

    KEYS  room:{id}:meta  room:{id}:seats  room:{id}:closed
          [room:{id}:presence  presence:instances  presence:held]
    ARGV  version closed ttl_s channel #meta #seats #present now_ms dead_after_ms
          room_id instance_key_prefix present... meta... seats... event...

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
- a view created from nothing (no stored ``version``), when the step is given
  the presence keys: each seated user not in ``present`` is shown connected
  only if ``room:{id}:presence`` names them with a live instance (or, that
  set lost too, a live instance's own set names the seat: the room's entry
  is then put back); any other is shown ``connected: false``, held from
  ``now_ms`` in ``presence:held`` and ``player_disconnected`` is published
  after the events (unless the seat was held already: its time stands).
  Presence's own scripts run atomically too, so a socket that arrives or
  leaves just before or after the step is never missed (``LiveUpdate`` in
  the domain);
- then, in every case, PUBLISH each event on ``room:{id}:events``, in order.

Called through redis-py's ``Script`` (EVALSHA; on NOSCRIPT, after a Redis
restart, redis-py loads the script and runs it again).
"""

from __future__ import annotations

from itertools import chain

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from rooms_adapters.redis_events import channel_name
from rooms_adapters.redis_presence_keys import SEAT_EVENT_LUA, PresenceKeys, room_presence_key
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
_SCRIPT = (
    SEAT_EVENT_LUA
    + """
local version, closed, ttl, channel = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local n_meta, n_seats, n_present = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now, dead_after = tonumber(ARGV[8]), tonumber(ARGV[9])
local room, instance_prefix = ARGV[10], ARGV[11]
local present_at = 12
local meta_at = present_at + n_present
local seats_at = meta_at + 2 * n_meta
local events_at = seats_at + 2 * n_seats
local knows_presence = #KEYS == 6

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

local present = {}
for i = present_at, meta_at - 1 do
  present[ARGV[i]] = true
end
local live_instances

-- A socket of the user follows the room on a live instance (redis_presence).
local function connected(user)
  if present[user] then
    return true
  end
  local alive_since, prefix = now - dead_after, user .. '/'
  for _, member in ipairs(redis.call('SMEMBERS', KEYS[4])) do
    if string.sub(member, 1, #prefix) == prefix then
      local beat = tonumber(redis.call('ZSCORE', KEYS[5], string.sub(member, #prefix + 1)))
      if beat and beat >= alive_since then
        return true
      end
    end
  end
  live_instances = live_instances or redis.call('ZRANGEBYSCORE', KEYS[5], alive_since, '+inf')
  for _, instance in ipairs(live_instances) do
    if redis.call('SISMEMBER', instance_prefix .. instance, room .. '/' .. user) == 1 then
      redis.call('SADD', KEYS[4], prefix .. instance)
      return true
    end
  end
  return false
end

local outcome
local gone = {}
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
    local from_nothing = knows_presence and not stored
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
        elseif from_nothing then
          local user = user_of(value)
          if user and not connected(user) then
            value = string.gsub(value, '"connected":[^,}]+', '"connected":false', 1)
            -- Held already (gone before the view was lost): its time and its
            -- event stand.
            if redis.call('ZADD', KEYS[6], 'NX', now, room .. '/' .. user) == 1 then
              gone[#gone + 1] = seat_event(
                'player_disconnected', room, ARGV[1], string.sub(field, 6), user)
            end
          end
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
for _, message in ipairs(gone) do
  redis.call('PUBLISH', channel, message)
end
return outcome
"""
)


def live_apply_script(client: aioredis.Redis) -> AsyncScript:
    """The step registered with ``client``: once, at start-up, not per update."""
    return client.register_script(_SCRIPT)


async def apply_live_update(
    script: AsyncScript,
    keys: tuple[str, str],
    room_id: RoomId,
    update: LiveUpdate,
    ttl_s: int = TOMBSTONE_TTL_S,
    presence: PresenceKeys | None = None,
) -> str:
    """Run the step for ``room_id`` (``keys``: its meta and seats hashes); what it did.

    ``script`` is the step as ``live_apply_script`` registered it;
    ``presence``: where presence lives, so that a view created from nothing
    shows who is connected (None: every seat connected, as ``update`` has it).

    One of ``written``, ``stale``, ``tombstone`` or ``closed``. Redis errors
    propagate: bounding and translating them is the caller's.
    """
    view = update.view
    room = str(room_id)
    if presence is None:
        all_keys = [*keys, closed_key(room_id)]
        present: list[str] = []
        dead_after_ms, instance_prefix = 0, ""
    else:
        all_keys = [*keys, closed_key(room_id), room_presence_key(room_id)]
        all_keys += [presence.instances, presence.held]
        present = [str(user) for user in update.present]
        dead_after_ms, instance_prefix = presence.dead_after_ms, presence.instance_prefix
    args = (
        update.version,
        "1" if update.closed else "0",
        ttl_s,
        channel_name(room_id),
        len(view.meta),
        len(view.seats),
        len(present),
        update.at_ms,
        dead_after_ms,
        room,
        instance_prefix,
        *present,
        *chain.from_iterable(view.meta.items()),
        *chain.from_iterable(view.seats.items()),
        *(event_message(event) for event in update.events),
    )
    outcome = await script(keys=all_keys, args=args)
    return outcome.decode() if isinstance(outcome, bytes) else str(outcome)
