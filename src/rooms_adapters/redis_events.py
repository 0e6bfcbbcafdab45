"""RoomEvents over Redis pub/sub: one subscriber connection per process for every room.

    publish(room) --PUBLISH room:{id}:events--> Redis --> every subscribed process
    ChannelSubscriber: one connection, SUBSCRIBE per room with local listeners
        --> RoomSubscription.offer() --> bounded queue --> listener

A room's channel is subscribed when its first local listener arrives and
unsubscribed when its last one leaves. Reconnection and resubscription are
the subscriber's (``redis_subscriber``); queues and the slow-listener policy
are the fan-out's (``event_fanout``). Publishing uses an ordinary client.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from rooms_adapters.circuit_breaker import BreakerState, CircuitBreaker
from rooms_adapters.event_fanout import EventBusStats, OverflowCallback, RoomSubscription
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_errors import EventsUnavailable
from rooms_adapters.redis_subscriber import ChannelSubscriber
from rooms_domain.model import RoomId
from rooms_domain.ports import Listener

__all__ = ["EventBusStats", "RedisRoomEvents", "RoomSubscription", "channel_name"]

logger = logging.getLogger(__name__)


def channel_name(room_id: RoomId) -> str:
    return f"room:{room_id}:events"


class RedisRoomEvents:
    """Implements ``rooms_domain.RoomEvents``. Call :meth:`start` before use, :meth:`close` after.

    ``start`` does not wait for Redis: the service starts while Redis is down,
    and subscriptions made meanwhile take effect once it is reachable.

    Options: ``queue_size`` messages may wait for one listener before it is
    disconnected as too slow (see ``event_fanout``); ``timeout_s`` bounds
    each socket operation and each publish; ``subscribe_wait_s`` bounds how
    long :meth:`subscribe` waits for Redis to confirm; a subscriber connection
    silent for ``ping_interval_s`` is sent a PING and dropped if that stays
    unanswered as long again; reconnection waits grow from ``backoff_min_s``
    to ``backoff_max_s`` (with jitter); an outage is logged at most once per
    ``outage_log_every_s``; ``client_name`` names the subscriber connection
    in ``CLIENT LIST``; ``breaker``, the live-state cache's breaker on the
    same Redis, if given: while it is not closed, :meth:`subscribe` does not
    wait for confirmations. Counters for metrics are in :attr:`stats`.
    """

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = 256,
        timeout_s: float = 0.5,
        subscribe_wait_s: float = 1.0,
        ping_interval_s: float = 5.0,
        backoff_min_s: float = 0.05,
        backoff_max_s: float = 2.0,
        outage_log_every_s: float = 60.0,
        client_name: str = "rooms-events",
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._queue_size = queue_size
        self._timeout_s = timeout_s
        self._subscribe_wait_s = subscribe_wait_s
        self.stats = EventBusStats()
        self._subs: dict[str, set[RoomSubscription]] = {}  # channel -> local listeners
        self._background: set[asyncio.Task[None]] = set()
        self._overdue: asyncio.Future[None] | None = None  # a confirmation that timed out
        self._breaker = breaker
        self._started = self._closed = False
        self._subscriber = ChannelSubscriber(
            url,
            wanted=self._subs.keys(),
            on_message=self._deliver,
            stats=self.stats,
            timeout_s=timeout_s,
            ping_interval_s=ping_interval_s,
            backoff_min_s=backoff_min_s,
            backoff_max_s=backoff_max_s,
            outage_log_every_s=outage_log_every_s,
            client_name=client_name,
        )
        self._publisher = redis_client(url, socket_timeout_s=timeout_s, connect_timeout_s=timeout_s)

    @property
    def connected(self) -> bool:
        return self.stats.connected

    @property
    def channels(self) -> int:
        """Rooms with at least one local listener."""
        return len(self._subs)

    async def start(self) -> None:
        if self._closed:
            raise RuntimeError("a closed RedisRoomEvents cannot start again")
        self._started = True
        self._subscriber.start()

    async def wait_connected(self, timeout_s: float) -> bool:
        """Whether the subscriber connection is up within ``timeout_s``."""
        return await self._subscriber.wait_connected(timeout_s)

    async def close(self) -> None:
        """Stop the subscriber, every subscription and both connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._subscriber.close()
        subscriptions = [sub for subs in self._subs.values() for sub in subs]
        self._subs.clear()
        for sub in subscriptions:
            await sub.close()
        await asyncio.gather(*(sub.wait_stopped() for sub in subscriptions))
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._publisher.aclose()

    async def subscribe(
        self, room_id: RoomId, listener: Listener, *, on_overflow: OverflowCallback | None = None
    ) -> RoomSubscription:
        """Deliver the room's later messages to ``listener``, in order.

        Returns once Redis confirmed the channel (so a message published right
        after is delivered), or after ``subscribe_wait_s`` at most; while Redis
        is unreachable, or an earlier confirmation is overdue (a stalled Redis),
        it returns at once and the channel is subscribed when Redis answers.
        ``on_overflow`` is called if the listener falls ``queue_size`` messages
        behind and is disconnected.
        """
        if not self._started or self._closed:
            raise RuntimeError("RedisRoomEvents is not running: call start() first")
        channel = channel_name(room_id)
        sub = RoomSubscription(
            room_id,
            listener,
            queue_size=self._queue_size,
            stats=self.stats,
            release=self._release,
            detach=self._detach,
            on_overflow=on_overflow,
        )
        self._subs.setdefault(channel, set()).add(sub)
        confirmation = await self._subscriber.sync(channel)
        if confirmation is not None:
            await self._await_confirmation(channel, confirmation)
        return sub

    async def _await_confirmation(self, channel: str, confirmation: asyncio.Future[None]) -> None:
        # While an earlier confirmation is overdue, Redis is stalled (frozen, or
        # a path that hangs) and the reader has not noticed yet: waiting again
        # would cost every caller the whole bound, each create_room included,
        # for as long as that takes. Overdue futures resolve on confirmation or
        # on reconnection, which ends the stall. The channel stays pending.
        if self._overdue is not None and not self._overdue.done():
            return
        if self._breaker is not None and self._breaker.state is not BreakerState.CLOSED:
            # The cache just found this Redis failing: do not spend the
            # caller's budget a second time on the same sick server.
            return
        try:
            async with asyncio.timeout(self._subscribe_wait_s):
                await asyncio.shield(confirmation)
        except TimeoutError:
            self._overdue = confirmation
            logger.info("subscription to %s not confirmed yet; it stays pending", channel)

    async def publish(self, room_id: RoomId, message: str) -> None:
        """Publish to every process; raises :class:`EventsUnavailable` if Redis fails."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._publisher.publish(channel_name(room_id), message)
        except TimeoutError as exc:
            raise EventsUnavailable(f"publish to room {room_id} timed out") from exc
        except (RedisError, OSError) as exc:
            raise EventsUnavailable(f"publish to room {room_id} failed: {exc}") from exc

    def _deliver(self, channel: str, payload: bytes) -> None:
        try:
            message = payload.decode("utf-8")
        except UnicodeDecodeError:
            # A WebSocket text frame must be UTF-8: such a payload has no
            # faithful way to reach a client.
            self.stats.undecodable += 1
            logger.warning("room events: non-UTF-8 message on %s skipped", channel)
            return
        for sub in list(self._subs.get(channel, ())):
            sub.offer(message)

    def _forget(self, sub: RoomSubscription) -> str:
        channel = channel_name(sub.room_id)
        subs = self._subs.get(channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[channel]
        return channel

    async def _release(self, sub: RoomSubscription) -> None:
        await self._subscriber.sync(self._forget(sub))

    def _detach(self, sub: RoomSubscription) -> None:
        # Called from the reader task (a slow listener): it must not wait for
        # the UNSUBSCRIBE, so that goes to a task of its own.
        task = asyncio.create_task(self._sync(self._forget(sub)), name="room-events-unsubscribe")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _sync(self, channel: str) -> None:
        await self._subscriber.sync(channel)
