"""Where presence lives in Redis, shared by the presence scripts and the live-view step.

``redis_presence`` keeps these keys; the live-view step
(``redis_live_apply``) reads them when it creates a view from nothing, to
show each seat connected or not as presence has it (``docs/operations.md``,
Presence and held seats). One definition, so the two never look in
different places.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooms_domain.model import RoomId

# The default prefix of the keys shared by every room; a test, or two
# deployments on one Redis, pick their own.
PREFIX = "presence"


def room_presence_key(room_id: RoomId) -> str:
    """The set of ``user_id/instance_id`` with a socket following the room."""
    return f"room:{room_id}:presence"


@dataclass(frozen=True, slots=True)
class PresenceKeys:
    """The keys under ``prefix``, and how long an instance may be silent and alive."""

    dead_after_ms: int
    prefix: str = PREFIX

    @property
    def instances(self) -> str:
        """ZSET: instance id -> its last beat (ms)."""
        return f"{self.prefix}:instances"

    @property
    def held(self) -> str:
        """ZSET: ``room_id/user_id`` -> since when the seat is held (ms)."""
        return f"{self.prefix}:held"

    @property
    def instance_prefix(self) -> str:
        return f"{self.prefix}:instance:"

    def instance(self, instance: str) -> str:
        """SET: the ``room_id/user_id`` pairs the instance has a socket following."""
        return self.instance_prefix + instance

    def dropped(self, instance: str) -> str:
        """STR: set by whoever dropped some of the instance's entries (its next beat reads it)."""
        return f"{self.prefix}:dropped:{instance}"


# The frame of a presence event, in the order rooms_domain.events.event_message
# writes it (the contract suites compare the two).
SEAT_EVENT_LUA = """
local function seat_event(kind, room, version, index, user)
  return '{"type":"' .. kind .. '","request_id":null,"payload":{"room_id":"' .. room
    .. '","version":' .. version .. ',"seat_index":' .. index .. ',"user_id":"' .. user .. '"}}'
end
"""
