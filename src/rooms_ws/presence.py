"""This instance's side of presence: which users its sockets follow rooms for.

Sessions report each room a socket starts or stops following; the tracker
counts them per (room, user) and tells the shared :class:`Presence` only on
the transitions 0 -> 1 (connect) and 1 -> 0 (disconnect), so a user with
three tabs costs one Redis step, not three. A task beats every third of
``ROOMS_PRESENCE_TIMEOUT_SECONDS`` (this instance is alive) and, on the same
tick, drops the entries of instances that stopped beating (``docs/protocol.md``,
presence): whichever instance ticks first finds a SIGKILLed one.

A burst of transitions (an instance's clients all closing at once, a
client following its 64 rooms going away) is let through at most
``max_in_flight`` at a time: each step is bounded from when it is sent, so
thousands racing for the connections would time out together and open the
breaker for everyone. Redis may fail at a transition: the pair is then
marked (logged at warning once until a step succeeds again) and set right on a
later tick (connected if a socket here still follows, else disconnected), as
is everything this instance follows when its beat finds it was counted dead
(frozen, or cut off from Redis, for too long).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

from rooms_domain.model import RoomId, UserId
from rooms_domain.ports import Clock
from rooms_domain.presence import Presence, beat_interval_s

logger = logging.getLogger(__name__)

Pair = tuple[RoomId, UserId]

# Entries of dead instances dropped per tick: a dead instance with many
# users is cleared over a few ticks rather than in one long burst.
EXPIRE_BATCH = 500
# Transitions sent to Redis at once; the rest wait their turn unbounded.
MAX_IN_FLIGHT = 32


class PresenceTracker:
    def __init__(
        self,
        presence: Presence,
        clock: Clock,
        *,
        timeout_s: float,
        redis_timeout_s: float = 0.5,
        instance: str | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.presence = presence
        self.instance = instance or uuid.uuid4().hex[:16]
        self._clock = clock
        self._interval_s = beat_interval_s(timeout_s)
        self._redis_timeout_s = redis_timeout_s
        self._counts: dict[Pair, int] = {}
        # A lock per pair only while a step of it runs or waits, with the
        # number of steps using it: a lock kept per followed pair cost ~0.4 KiB.
        self._locks: dict[Pair, _PairLock] = {}
        self._dirty: set[Pair] = set()
        self._task: asyncio.Task[None] | None = None
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._failing = False  # the beat failed last time: log once per outage
        self._sync_failing = False  # a step failed and none succeeded since
        self.held_seats = 0  # as last seen, for the metrics

    @property
    def connected_users(self) -> int:
        """(room, user) pairs with a socket here following the room."""
        return len(self._counts)

    async def followed(self, room_id: RoomId, user_id: UserId) -> None:
        pair = (room_id, user_id)
        self._counts[pair] = self._counts.get(pair, 0) + 1
        if self._counts[pair] == 1:
            await self._sync(pair)

    async def unfollowed(self, room_id: RoomId, user_id: UserId) -> None:
        pair = (room_id, user_id)
        count = self._counts.get(pair, 0) - 1
        if count > 0:
            self._counts[pair] = count
            return
        self._counts.pop(pair, None)
        await self._sync(pair)

    async def _sync(self, pair: Pair) -> None:
        """Bring Redis to what this instance has now for ``pair``; on failure, later."""
        held = self._locks.get(pair)
        if held is None:  # not setdefault: that builds a Lock on every call
            held = self._locks[pair] = _PairLock()
        held.users += 1
        lock = held.lock
        try:
            # One step per pair at a time, each after the count it sees: a
            # follow and an unfollow racing end in the state of the last one.
            async with lock, self._in_flight:
                room_id, user_id = pair
                now = self._clock.now_ms()
                # No timeout of our own: the port bounds each call (a second
                # timer per follow cost more than the rest of this method).
                if pair in self._counts:
                    await self.presence.connect(room_id, user_id, self.instance, now)
                else:
                    await self.presence.disconnect(room_id, user_id, self.instance, now)
            self._dirty.discard(pair)
            self._sync_failing = False
        except Exception as exc:
            self._dirty.add(pair)
            # During an outage this is every follow and every close: one
            # warning for the episode, the rest at info.
            quiet = self._failing or self._sync_failing
            self._sync_failing = True
            log = logger.info if quiet else logger.warning
            log(
                "presence not updated; retried at the next beat (%s)",
                type(exc).__name__,
                extra={"room_id": str(pair[0])},
            )
        finally:
            held.users -= 1
            if held.users == 0:
                del self._locks[pair]

    async def tick(self) -> None:
        """One beat: alive, repairs, and the dead instances' users disconnected."""
        now = self._clock.now_ms()
        try:
            async with asyncio.timeout(self._redis_timeout_s * 2):
                if not await self.presence.beat(self.instance, now):
                    # New, or counted dead meanwhile: say again all we follow.
                    self._dirty.update(self._counts)
        except Exception as exc:
            # Once per outage at warning: it repeats every beat until Redis is back.
            log = logger.info if self._failing else logger.warning
            log("presence beat failed (%s: %s)", type(exc).__name__, exc)
            self._failing = True
            return
        if self._failing:
            logger.info("presence: Redis answers again")
            self._failing = False
        for pair in list(self._dirty):
            await self._sync(pair)
        try:
            async with asyncio.timeout(self._redis_timeout_s * 4):
                await self.presence.expire_instances(now, EXPIRE_BATCH)
                self.held_seats = await self.presence.held_count()
        except Exception as exc:
            logger.warning("dead instances not checked (%s)", type(exc).__name__)

    async def start(self) -> None:
        await self.tick()  # alive before the first socket follows anything
        self._task = asyncio.create_task(self._run(), name="presence-beat")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.tick()
            except Exception:
                logger.exception("presence tick failed")

    async def close(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        try:
            # Sessions are drained by now: normally just this instance forgotten.
            async with asyncio.timeout(self._redis_timeout_s * 4):
                await self.presence.retire(self.instance, self._clock.now_ms())
        except Exception as exc:
            # Others find it dead within the timeout anyway.
            logger.info("presence not retired (%s)", type(exc).__name__)


class _PairLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # steps holding or waiting for the lock


async def running(tracker: PresenceTracker) -> AsyncIterator[PresenceTracker]:
    """The tracker beating for as long as the resource is open (the container's)."""
    await tracker.start()
    try:
        yield tracker
    finally:
        await tracker.close()
