"""In-memory fakes of the sweep's ports, over ``MemoryDatabase`` and ``MemoryLiveStateCache``.

They pass the same contract suite as the PostgreSQL and Redis adapters
(``tests/contracts/housekeeping.py``). Times come from the database's clock
(the one its Units of Work date finished keys with), as PostgreSQL's and
Redis's own clocks date theirs. The fake closing times know nothing of the
cache's closings: every closed room counts from the first sweep that sees it
(what the Redis adapter does for a room whose tombstone was lost) unless a
test records its closing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

from rooms_adapters.memory import MemoryDatabase, MemoryLiveStateCache
from rooms_domain.housekeeping import KeySlice, LiveRoom, RoomSlice, VersionSlice
from rooms_domain.model import RoomId, RoomStatus
from rooms_domain.ports import Clock
from rooms_domain.replies import RequestKey

_K = TypeVar("_K", RoomId, RequestKey)


def _page(keys: Iterable[_K], after: _K | None, scan: int) -> tuple[list[_K], _K | None]:
    """The first ``scan`` keys past ``after``, and the cursor to go on from (None: done)."""
    page = sorted(k for k in keys if after is None or k > after)[:scan]
    return page, (page[-1] if len(page) == scan else None)


class MemorySweepRound:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def closed_rooms(self, after: RoomId | None, scan: int) -> RoomSlice:
        self._db.check_available()
        ids, next_after = _page(self._db.rooms, after, scan)
        closed = [r for r in ids if self._db.rooms[r].status is RoomStatus.CLOSED]
        return RoomSlice(tuple(closed), next_after)

    async def delete_closed(self, room_ids: Sequence[RoomId]) -> list[RoomId]:
        self._db.check_available()
        gone = [
            r
            for r in room_ids
            if (room := self._db.rooms.get(r)) is not None and room.status is RoomStatus.CLOSED
        ]
        for room_id in gone:
            del self._db.rooms[room_id]
        return gone

    async def live_versions(self, after: RoomId | None, scan: int) -> VersionSlice:
        self._db.check_available()
        ids, next_after = _page(self._db.rooms, after, scan)
        rooms = [self._db.rooms[room_id] for room_id in ids]
        versions = tuple((r.room_id, r.version) for r in rooms if r.status is not RoomStatus.CLOSED)
        return VersionSlice(versions, next_after)

    async def load_live(self, room_ids: Sequence[RoomId]) -> list[LiveRoom]:
        self._db.check_available()
        rooms = [self._db.rooms.get(room_id) for room_id in room_ids]
        return [
            LiveRoom(room, self._db.seated_names(room))
            for room in rooms
            if room is not None and room.status is not RoomStatus.CLOSED
        ]

    async def purge_finished(
        self, after: RequestKey | None, scan: int, retention_ms: int
    ) -> KeySlice:
        self._db.check_available()
        now = self._db.clock.now_ms()
        # Keys held by an open Unit of Work are not in ``idempotency`` until
        # it commits: a running request's key is never seen here.
        keys, next_after = _page(self._db.idempotency, after, scan)
        deleted = 0
        for key in keys:
            record = self._db.idempotency[key]
            if record.finished_at_ms is None:
                self._db.idempotency[key] = dataclasses.replace(record, finished_at_ms=now)
            elif record.finished_at_ms <= now - retention_ms:
                del self._db.idempotency[key]
                deleted += 1
        return KeySlice(deleted, next_after)

    async def count_by_status(self) -> dict[str, int]:
        self._db.check_available()
        counts = {status.value: 0 for status in RoomStatus}
        for room in self._db.rooms.values():
            counts[room.status.value] += 1
        return counts


class MemorySweepStore:
    """One round at a time per database, as the advisory lock allows one per PostgreSQL database."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def round(self) -> AsyncIterator[MemorySweepRound | None]:
        self._db.check_available()
        if self._lock.locked():
            yield None
            return
        async with self._lock:
            yield MemorySweepRound(self._db)


class MemoryClosingTimes:
    """Closing times by room; a room not recorded is recorded at its first sighting."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.closed_at_ms: dict[RoomId, int] = {}

    async def due(self, room_ids: Sequence[RoomId], retention_ms: int) -> list[RoomId]:
        now = self._clock.now_ms()
        due = []
        for room_id in room_ids:
            at = self.closed_at_ms.setdefault(room_id, now)
            if now - at >= retention_ms:
                due.append(room_id)
        return due

    async def forget(self, room_ids: Sequence[RoomId]) -> None:
        for room_id in room_ids:
            self.closed_at_ms.pop(room_id, None)


class MemoryViewVersions:
    def __init__(self, cache: MemoryLiveStateCache) -> None:
        self._cache = cache

    async def versions(self, room_ids: Sequence[RoomId]) -> list[int | None]:
        views = [self._cache.views.get(room_id) for room_id in room_ids]
        return [None if view is None else view.version for view in views]


class MemoryRoundPacing:
    """The cluster's pacing as one dict shared by the fake instances: when each claim ends."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.until_ms: dict[str, int] = {}

    async def claim(self, what: str, every_ms: int) -> bool:
        now = self._clock.now_ms()
        if now < self.until_ms.get(what, now):
            return False
        self.until_ms[what] = now + every_ms
        return True
