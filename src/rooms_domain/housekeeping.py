"""Housekeeping: one sweep round, its tasks and the ports they need (``docs/operations.md``).

Every instance runs a round every few seconds; the store's round is
exclusive (one instance acts, the others get None and do nothing). A round
runs each task in turn; a task works in batches of at most ``batch_size``
rows examined, at most ``batches`` per round, and keeps a cursor across
rounds, so a backlog of a million rows costs each round the same bounded
work, never a stall. Tasks:

- closed rooms: deleted ``closed_retention_ms`` after they closed. The
  closing time is the cache's (it writes it when the room closes); one it
  lost is counted from the first round that sees the room closed.
- finished idempotency rows: deleted ``idempotency_retention_ms`` after they
  finished, by the time the store keeps on the row itself.
- live views: every open or in-game room whose view is missing or older than
  the store's is rebuilt (an update with no events). A batch reads only the
  rooms' versions from the store and the views' versions from the cache (one
  call each); only the rooms found behind are loaded whole. In ``serve`` a
  pass over every room starts at most every ``view_pass_every_ms`` (the
  rooms-by-status count's kind of pacing); ``rooms sweep`` makes a whole pass.

With N instances the rounds are exclusive but N of them would run per
interval: a round that gets the store's hold first claims the cluster's
:class:`RoundPacing` and does nothing when another instance's round started
less than ``round_every_ms`` ago (the rooms-by-status count likewise, once
per ``count_every_ms`` for the whole cluster). When the pacing cannot answer
(Redis away) the round acts anyway: the store's tasks never stop with the
cache. ``rooms sweep`` is never paced.

A task is a coroutine taking the round and giving a :class:`TaskReport`: a
new one is one more ``(name, task)`` entry in :attr:`Housekeeping.tasks`. The
release of expired held seats, say, would run its own Units of Work (each
release a transaction of the lobby's leave), ignoring the round's store but
still inside the round, so one instance at a time.

The ports live here rather than in ``ports.py``: only this module uses them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from rooms_domain.live_state import LiveUpdate
from rooms_domain.model import Room, RoomId, UserId
from rooms_domain.ports import Clock, LiveStateCache
from rooms_domain.replies import RequestKey


@dataclass(frozen=True, slots=True)
class RoomSlice:
    """Up to ``scan`` rooms in id order after a cursor: the closed ones' ids."""

    closed: tuple[RoomId, ...]
    next_after: RoomId | None  # None: the end of the table was reached


@dataclass(frozen=True, slots=True)
class LiveRoom:
    room: Room
    display_names: Mapping[UserId, str]


@dataclass(frozen=True, slots=True)
class VersionSlice:
    """Up to ``scan`` rooms in id order after a cursor: the open and in-game ones' versions."""

    versions: tuple[tuple[RoomId, int], ...]
    next_after: RoomId | None


@dataclass(frozen=True, slots=True)
class KeySlice:
    """Up to ``scan`` idempotency rows in key order after a cursor, and what was done to them."""

    deleted: int
    next_after: RequestKey | None


class SweepRound(Protocol):
    """The store during one exclusive round; each call is one short transaction of its own."""

    async def closed_rooms(self, after: RoomId | None, scan: int) -> RoomSlice:
        """Of the next ``scan`` rooms after ``after`` (None: the first), the closed ones."""
        ...

    async def delete_closed(self, room_ids: Sequence[RoomId]) -> list[RoomId]:
        """Delete those of the rooms still closed (their seats with them); the ones that went.

        A room some request holds locked is skipped, not waited for.
        """
        ...

    async def live_versions(self, after: RoomId | None, scan: int) -> VersionSlice:
        """Of the next ``scan`` rooms after ``after``, the open and in-game ones' versions."""
        ...

    async def load_live(self, room_ids: Sequence[RoomId]) -> list[LiveRoom]:
        """Those of these rooms still open or in game, with their seats and occupants' names."""
        ...

    async def purge_finished(
        self, after: RequestKey | None, scan: int, retention_ms: int
    ) -> KeySlice:
        """Of the next ``scan`` idempotency rows, delete the finished ones older than retention.

        Ages are the store's own (its clock, the finishing time kept on the
        row). A finished row with no such time is given the current one: it
        counts from this sweep. A row whose request is running is never touched.
        """
        ...

    async def count_by_status(self) -> dict[str, int]:
        """Rooms per status (every status, zeros included)."""
        ...


class SweepStore(Protocol):
    def round(self) -> AbstractAsyncContextManager[SweepRound | None]:
        """Hold the sweep for the block, or None when another instance holds it."""
        ...


class ClosingTimes(Protocol):
    """When each closed room closed, as the cache recorded it (``docs/operations.md``)."""

    async def due(self, room_ids: Sequence[RoomId], retention_ms: int) -> list[RoomId]:
        """Those of these closed rooms that closed at least ``retention_ms`` ago.

        A room with no recorded time is recorded as closing now (first seen).
        """
        ...

    async def forget(self, room_ids: Sequence[RoomId]) -> None:
        """These rooms are deleted: their records may go (once nothing late can land)."""
        ...


class ViewVersions(Protocol):
    async def versions(self, room_ids: Sequence[RoomId]) -> list[int | None]:
        """The version of each room's live view, None where it has none."""
        ...


class RoundPacing(Protocol):
    """When the cluster last did a paced thing (a sweep round, a count), on one clock."""

    async def claim(self, what: str, every_ms: int) -> bool:
        """True, dating ``what`` now, when it was last claimed ``every_ms`` ago or more (or never).

        Atomic: of several instances claiming at once, one gets True.
        """
        ...


@dataclass(frozen=True, slots=True)
class SweepLimits:
    batch_size: int = 1000
    batches: int = 10
    closed_retention_ms: int = 86_400_000
    idempotency_retention_ms: int = 86_400_000
    # The rooms-by-status count scans the table: not every round.
    count_every_ms: int = 60_000
    # A new pass of the live-view repair over every room, at most this often
    # in serve (a view goes missing or stale only when Redis lost data or a
    # step failed; join_room and get_room repair theirs meanwhile).
    view_pass_every_ms: int = 60_000
    # A round acts only when the cluster's last one started at least this
    # long ago (0: every round acts); serve sets it a little under its interval.
    round_every_ms: int = 0


@dataclass(frozen=True, slots=True)
class TaskReport:
    """What one task did in a round: ``done`` of its kind, in ``batches``."""

    name: str
    done: int = 0
    batches: int = 0
    waiting: int = 0  # closed rooms seen, not yet past their retention
    examined: int = 0
    error: str | None = None
    seconds: float = 0.0

    def line(self) -> str:
        if self.error is not None:
            return f"{self.name}: failed: {self.error}"
        what = {
            "closed rooms": f"{self.done} deleted, {self.waiting} waiting for their retention",
            "idempotency rows": f"{self.done} deleted",
            "live views": f"{self.done} rebuilt of {self.examined} open or in-game rooms",
            "held seats": f"{self.done} released after their hold",
        }.get(self.name, f"{self.done} done")
        return f"{self.name}: {what} ({self.batches} batches, {self.seconds:.2f} s)"


@dataclass(frozen=True, slots=True)
class SweepReport:
    acted: bool
    tasks: tuple[TaskReport, ...] = ()
    seconds: float = 0.0
    rooms_by_status: dict[str, int] | None = None  # when counted this round
    swept_recently: bool = False  # not acted: another instance's round was too recent

    @property
    def failed(self) -> tuple[TaskReport, ...]:
        return tuple(t for t in self.tasks if t.error is not None)

    def lines(self) -> list[str]:
        if self.swept_recently:
            return ["another instance swept recently: nothing done"]
        if not self.acted:
            return ["another instance is sweeping: nothing done"]
        return [task.line() for task in self.tasks]


Task = Callable[[SweepRound], Awaitable[TaskReport]]
# One batch of expired held seats released; returns what it released.
ReleaseHeldSeats = Callable[[], Awaitable[Sequence[object]]]


@dataclass
class _Cursors:
    closed: RoomId | None = None
    live: RoomId | None = None
    keys: RequestKey | None = None
    live_pass_started_ms: int | None = None


class Housekeeping:
    """Runs sweep rounds; keeps each task's cursor between them (per process)."""

    def __init__(
        self,
        store: SweepStore,
        closing_times: ClosingTimes,
        views: ViewVersions,
        live_state: LiveStateCache,
        clock: Clock,
        limits: SweepLimits | None = None,
        release_held_seats: ReleaseHeldSeats | None = None,
        pacing: RoundPacing | None = None,
    ) -> None:
        self._store = store
        self._closing = closing_times
        self._views = views
        self._live = live_state
        self._clock = clock
        self._pacing = pacing  # None: every round and every count_every_ms acts
        self.limits = limits if limits is not None else SweepLimits()
        self._cursors = _Cursors()
        self._counted_at_ms: int | None = None
        self._whole_view_pass = False
        # In this order: a room deleted is not worth a view rebuilt.
        self.tasks: list[tuple[str, Task]] = [
            ("closed rooms", self.delete_closed_rooms),
            ("idempotency rows", self.purge_idempotency),
            ("live views", self.repair),
        ]
        if release_held_seats is not None:
            # Its own Units of Work (each release a leave with reason timeout),
            # but inside the round: one instance at a time, batch by batch.
            self.tasks.append(("held seats", _held_seats(release_held_seats, self.limits)))

    async def run_round(self, *, whole_view_pass: bool = False, paced: bool = True) -> SweepReport:
        """One round: every task, or nothing when another instance holds the sweep.

        ``whole_view_pass`` (``rooms sweep``): the live-view repair goes on,
        batch after batch, to the end of the table, unpaced. ``paced=False``
        (``rooms sweep`` too): the round acts however recent the cluster's last.
        """
        started = time.monotonic()
        self._whole_view_pass = whole_view_pass  # read by repair, for this round only
        try:
            async with self._store.round() as sweep:
                if sweep is None:
                    return SweepReport(acted=False)
                # Under the store's hold: the claim is the acting instance's.
                if paced and not await self._due("round", self.limits.round_every_ms):
                    return SweepReport(acted=False, swept_recently=True)
                reports = [await _reported(name, task, sweep) for name, task in self.tasks]
                counts = await self._count(sweep, paced)
        finally:
            self._whole_view_pass = False
        return SweepReport(True, tuple(reports), time.monotonic() - started, counts)

    async def _due(self, what: str, every_ms: int) -> bool:
        if self._pacing is None or every_ms <= 0:
            return True
        try:
            return await self._pacing.claim(what, every_ms)
        except Exception:
            # The pacing's store away (Redis): act, as a lone instance would;
            # the store's tasks must not stop with the cache.
            return True

    async def _count(self, sweep: SweepRound, paced: bool) -> dict[str, int] | None:
        now = self._clock.now_ms()
        last = self._counted_at_ms
        # This process's own pacing first (it alone holds when the cluster's
        # cannot answer), then the cluster's: one count per interval in all.
        if last is not None and now - last < self.limits.count_every_ms:
            return None
        if paced and not await self._due("count", self.limits.count_every_ms):
            return None
        self._counted_at_ms = now
        return await sweep.count_by_status()

    async def delete_closed_rooms(self, sweep: SweepRound) -> TaskReport:
        report = _Tally("closed rooms")
        for _ in range(self.limits.batches):
            found = await sweep.closed_rooms(self._cursors.closed, self.limits.batch_size)
            self._cursors.closed = found.next_after
            report.batches += 1
            if found.closed:
                due = await self._closing.due(found.closed, self.limits.closed_retention_ms)
                report.waiting += len(found.closed) - len(due)
                if due:
                    # Only the deleted ones: a room skipped (locked) keeps its
                    # closing time for the next pass.
                    deleted = await sweep.delete_closed(due)
                    report.done += len(deleted)
                    if deleted:
                        await self._closing.forget(deleted)
            if found.next_after is None:
                break
        return report.done_report()

    async def purge_idempotency(self, sweep: SweepRound) -> TaskReport:
        report = _Tally("idempotency rows")
        for _ in range(self.limits.batches):
            found = await sweep.purge_finished(
                self._cursors.keys, self.limits.batch_size, self.limits.idempotency_retention_ms
            )
            self._cursors.keys = found.next_after
            report.batches += 1
            report.done += found.deleted
            if found.next_after is None:
                break
        return report.done_report()

    async def repair(self, sweep: SweepRound) -> TaskReport:
        report = _Tally("live views")
        whole = self._whole_view_pass
        if whole:
            self._cursors.live = None  # from the first room to the last
        elif self._cursors.live is None and not self._view_pass_due():
            return report.done_report()  # the last pass ended lately: nothing this round
        while whole or report.batches < self.limits.batches:
            if self._cursors.live is None:
                self._cursors.live_pass_started_ms = self._clock.now_ms()
            found = await sweep.live_versions(self._cursors.live, self.limits.batch_size)
            self._cursors.live = found.next_after
            report.batches += 1
            report.examined += len(found.versions)
            if found.versions:
                report.done += await self._rebuild(sweep, found.versions)
            if found.next_after is None:
                break
        return report.done_report()

    def _view_pass_due(self) -> bool:
        started = self._cursors.live_pass_started_ms
        return started is None or (self._clock.now_ms() - started >= self.limits.view_pass_every_ms)

    async def _rebuild(self, sweep: SweepRound, versions: Sequence[tuple[RoomId, int]]) -> int:
        stored = await self._views.versions([room_id for room_id, _ in versions])
        # Missing, or older than the store's; a newer view is left alone.
        behind = [
            room_id
            for (room_id, version), view in zip(versions, stored, strict=True)
            if view is None or view < version
        ]
        if not behind:
            return 0  # the usual case: nothing loaded, nothing written
        rebuilt = 0
        for live in await sweep.load_live(behind):
            # A view created from nothing takes presence into account: the
            # cache's step (LiveStateCache.apply) asks it who is connected.
            update = LiveUpdate.of(live.room, live.display_names, (), self._clock.now_ms())
            await self._live.apply(live.room.room_id, update)
            rebuilt += 1
        return rebuilt


@dataclass
class _Tally:
    name: str
    done: int = 0
    batches: int = 0
    waiting: int = 0
    examined: int = 0

    def done_report(self) -> TaskReport:
        return TaskReport(self.name, self.done, self.batches, self.waiting, self.examined)


def _held_seats(release: ReleaseHeldSeats, limits: SweepLimits) -> Task:
    async def task(sweep: SweepRound) -> TaskReport:
        report = _Tally("held seats")
        for _ in range(limits.batches):
            released = await release()
            report.batches += 1
            report.done += len(released)
            if not released:
                break
        return report.done_report()

    return task


async def _reported(name: str, task: Task, sweep: SweepRound) -> TaskReport:
    # One task failing (Redis down, say) must not keep the others from their
    # work: the PostgreSQL-only ones still run. The report says which failed;
    # what a failed task did before failing stays done (each batch commits).
    started = time.monotonic()
    try:
        report = await task(sweep)
    except Exception as exc:
        report = TaskReport(name, error=f"{type(exc).__name__}: {exc}")
    return dataclasses.replace(report, seconds=time.monotonic() - started)
