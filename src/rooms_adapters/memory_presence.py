"""In-memory Presence: the same contract as ``redis_presence`` (tests/contracts/presence.py).

It flips ``connected`` in the views of a :class:`MemoryLiveStateCache` and
publishes through it, so a use case test sees what Redis would hold; and it
tells that cache who is connected when it creates a view from nothing, as
Redis's live-view step reads the presence keys then.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from rooms_adapters.memory import MemoryLiveStateCache
from rooms_domain.events import LobbyEvent, PlayerDisconnected, PlayerReconnected
from rooms_domain.live_state import LiveRoomView, LiveUpdate
from rooms_domain.model import RoomId, UserId, compact_json
from rooms_domain.ports import RoomEvents
from rooms_domain.presence import HeldSeat, dead_after_ms


class MemoryPresence:
    def __init__(
        self,
        live_state: MemoryLiveStateCache,
        *,
        timeout_s: float,
        events: RoomEvents | None = None,
    ) -> None:
        self._live_state = live_state
        self._events = events
        self._dead_after_ms = dead_after_ms(timeout_s)
        self.beats: dict[str, int] = {}
        # Instances some of whose entries another dropped since their last beat.
        self.dropped: set[str] = set()
        # (room, user) -> the instances with a socket following it.
        self.following: dict[tuple[RoomId, UserId], set[str]] = {}
        self.held_since: dict[tuple[RoomId, UserId], int] = {}
        self.fail_with: Exception | None = None
        live_state.new_view_presence = self._new_view

    def _new_view(
        self, room_id: RoomId, update: LiveUpdate
    ) -> tuple[LiveRoomView, Sequence[LobbyEvent]]:
        """``update``'s view as the cache creates it from nothing (``LiveUpdate``)."""
        view, now = update.view, update.at_ms
        seats, gone = dict(view.seats), []
        for name, text in view.seats.items():
            seat = json.loads(text)
            if "user_id" not in seat:
                continue
            user = UserId(uuid.UUID(seat["user_id"]))
            instances = self.following.get((room_id, user), ())
            if user in update.present or any(self._alive(i, now) for i in instances):
                continue
            seats[name] = compact_json({**seat, "connected": False})
            if (room_id, user) not in self.held_since:  # else its time and event stand
                self.held_since[(room_id, user)] = now
                index = int(name.removeprefix("seat:"))
                gone.append(PlayerDisconnected(room_id, view.version, index, user))
        return LiveRoomView(view.meta, seats), gone

    async def beat(self, instance: str, now_ms: int) -> bool:
        self._misbehave()
        alive = self._alive(instance, now_ms) and instance not in self.dropped
        self.beats[instance] = now_ms
        self.dropped.discard(instance)
        return alive

    async def connect(self, room_id: RoomId, user_id: UserId, instance: str, now_ms: int) -> bool:
        self._misbehave()
        self.following.setdefault((room_id, user_id), set()).add(instance)
        self.held_since.pop((room_id, user_id), None)
        return await self._flip(room_id, user_id, connected=True) is True

    async def disconnect(
        self, room_id: RoomId, user_id: UserId, instance: str, now_ms: int
    ) -> bool:
        self._misbehave()
        key = (room_id, user_id)
        instances = self.following.get(key, set())
        instances.discard(instance)
        if not instances:
            self.following.pop(key, None)
        if any(self._alive(other, now_ms) for other in instances):
            return False
        flipped = await self._flip(room_id, user_id, connected=False)
        if flipped is None:
            return False  # not seated there
        self.held_since.setdefault(key, now_ms)
        return flipped

    async def retire(self, instance: str, now_ms: int) -> None:
        self._misbehave()
        for room_id, user_id in [k for k, v in self.following.items() if instance in v]:
            await self.disconnect(room_id, user_id, instance, now_ms)
        self.beats.pop(instance, None)

    async def expire_instances(self, now_ms: int, limit: int) -> int:
        self._misbehave()
        dropped = 0
        for instance in [i for i in self.beats if not self._alive(i, now_ms)]:
            for room_id, user_id in [k for k, v in self.following.items() if instance in v]:
                if dropped >= limit:
                    return dropped
                await self.disconnect(room_id, user_id, instance, now_ms)
                self.dropped.add(instance)
                dropped += 1
            del self.beats[instance]
        return dropped

    async def held(self, since_until_ms: int, limit: int) -> list[HeldSeat]:
        self._misbehave()
        due = sorted((since, key) for key, since in self.held_since.items())
        return [HeldSeat(r, u, since) for since, (r, u) in due if since <= since_until_ms][:limit]

    async def is_held(self, room_id: RoomId, user_id: UserId) -> bool:
        self._misbehave()
        return (room_id, user_id) in self.held_since

    async def held_since_ms(self, room_id: RoomId, user_id: UserId) -> int | None:
        self._misbehave()
        return self.held_since.get((room_id, user_id))

    async def forget(self, room_id: RoomId, user_id: UserId) -> None:
        self._misbehave()
        self.held_since.pop((room_id, user_id), None)

    async def postpone(self, room_id: RoomId, user_id: UserId, now_ms: int) -> None:
        self._misbehave()
        if (room_id, user_id) in self.held_since:
            self.held_since[(room_id, user_id)] = now_ms

    async def held_count(self) -> int:
        self._misbehave()
        return len(self.held_since)

    def _alive(self, instance: str, now_ms: int) -> bool:
        last = self.beats.get(instance)
        return last is not None and last >= now_ms - self._dead_after_ms

    async def _flip(self, room_id: RoomId, user_id: UserId, *, connected: bool) -> bool | None:
        """Set the user's seat's ``connected``; whether it changed, None when not seated."""
        view = self._live_state.views.get(room_id)
        if view is None:
            return None
        for field, text in view.seats.items():
            seat = json.loads(text)
            if seat.get("user_id") != str(user_id):
                continue
            if seat.get("connected") is connected:
                return False
            seat["connected"] = connected
            seats = {**view.seats, field: compact_json(seat)}
            self._live_state.views[room_id] = LiveRoomView(view.meta, seats)
            kind = PlayerReconnected if connected else PlayerDisconnected
            index = int(field.removeprefix("seat:"))
            await self._live_state.publish(
                room_id, kind(room_id, view.version, index, user_id), self._events
            )
            return True
        return None

    def _misbehave(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with
