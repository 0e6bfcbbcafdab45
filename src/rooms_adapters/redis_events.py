"""RoomEvents over Redis pub/sub: one subscriber connection per process for every room.

    publish(room) --PUBLISH room:{id}:events--> Redis --> every subscribed process
    ChannelSubscriber: one connection, SUBSCRIBE per room with local listeners
        --> Fanout.deliver() --> each listener of the room (no queue, no task)

A room's channel is subscribed when its first local listener arrives and
unsubscribed when its last one leaves. Reconnection and resubscription are
the subscriber's (``redis_subscriber``); delivery is the fan-out's
(``event_fanout``). Publishing goes through a pipeliner (``redis_pipeliner``): the
publishes of one loop turn share one write.

The bus has a circuit breaker of its own, apart from the live-state cache's:
a publish that fails, or a subscription Redis does not confirm in time, opens
it, and while it is open neither costs a caller a wait on the same sick
server (a publish fails at once; a subscription is made without waiting for
its confirmation, and takes effect when Redis answers). The subscriber
connecting again closes it at once.
"""

from __future__ import annotations

import asyncio
import logging

from rooms_adapters.circuit_breaker import BreakerState, CircuitBreaker
from rooms_adapters.event_fanout import EventBusStats, Fanout, RoomSubscription
from rooms_adapters.redis_client import packed_command, redis_pipeliner
from rooms_adapters.redis_errors import EventsSkipped, EventsUnavailable
from rooms_adapters.redis_guard import RedisGuard
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

    Options: ``redis_timeout_s`` bounds each socket operation, each publish
    and how long :meth:`subscribe` waits for Redis to confirm; a subscriber
    connection silent for ``ping_interval_s`` is sent a PING and dropped if
    that stays unanswered as long again; reconnection waits grow from
    ``backoff_min_s`` to ``backoff_max_s`` (with jitter); an outage is logged
    at most once per ``outage_log_every_s``; ``client_name`` names the
    subscriber connection in ``CLIENT LIST``; ``breaker`` is this bus's own
    (see the module's docstring). Counters for metrics are in :attr:`stats`.
    """

    def __init__(
        self,
        url: str,
        *,
        redis_timeout_s: float = 0.5,
        ping_interval_s: float = 5.0,
        backoff_min_s: float = 0.05,
        backoff_max_s: float = 2.0,
        outage_log_every_s: float = 60.0,
        client_name: str = "rooms-events",
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.stats = EventBusStats()
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self._guard = RedisGuard(
            self.breaker,
            timeout_s=redis_timeout_s,
            name="room events",
            logger=logger,
            unavailable=EventsUnavailable,
            skipped=EventsSkipped,
        )
        self._fanout = Fanout(self.stats)
        self._started = self._closed = False
        self._subscriber = ChannelSubscriber(
            url,
            wanted=self._fanout.keys(),
            on_message=self._deliver,
            stats=self.stats,
            redis_timeout_s=redis_timeout_s,
            ping_interval_s=ping_interval_s,
            backoff_min_s=backoff_min_s,
            backoff_max_s=backoff_max_s,
            outage_log_every_s=outage_log_every_s,
            client_name=client_name,
            # A new subscriber connection is Redis answering: stop skipping it.
            on_connected=self.breaker.reset,
        )
        # Publishes are pipelined: those of one loop turn share one write.
        self._publisher = redis_pipeliner(url, redis_timeout_s=redis_timeout_s)

    @property
    def connected(self) -> bool:
        return self.stats.connected

    @property
    def channels(self) -> int:
        """Rooms with at least one local listener."""
        return len(self._fanout)

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
        self._fanout.clear()
        await self._publisher.aclose()

    async def subscribe(self, room_id: RoomId, listener: Listener) -> RoomSubscription:
        """Deliver the room's later messages to ``listener``, in order, from the reader task.

        Returns once Redis confirmed the channel (so a message published right
        after is delivered), or after ``redis_timeout_s`` at most; while Redis
        is unreachable, or the breaker is open, it returns at once and the
        channel is subscribed when Redis answers.
        """
        if not self._started or self._closed:
            raise RuntimeError("RedisRoomEvents is not running: call start() first")
        channel = channel_name(room_id)
        sub = RoomSubscription(room_id, listener, self._release)
        self._fanout.add(channel, sub)
        confirmation = await self._subscriber.sync(channel)
        if confirmation is not None and not confirmation.done():
            await self._await_confirmation(channel, confirmation)
        return sub

    async def _await_confirmation(self, channel: str, confirmation: asyncio.Future[bool]) -> None:
        # Each create_room subscribes: with Redis stalled (frozen, or a path
        # that hangs) and the reader not aware yet, waiting every time would
        # cost every create the whole bound. The channel stays pending and is
        # made good when Redis answers or the reader reconnects.
        breaker = self._guard.breaker
        if not breaker.allow():
            return
        trial = breaker.state is BreakerState.HALF_OPEN
        # The future is this caller's alone: the bound resolves it (False)
        # rather than cancel the task, one timer and no asyncio.timeout or
        # shield on every subscription.
        expiry = asyncio.get_running_loop().call_later(self._guard.timeout_s, _expire, confirmation)
        try:
            confirmed = await confirmation
        except asyncio.CancelledError:
            if trial:
                breaker.abandon_trial()
            raise
        finally:
            expiry.cancel()
        if not confirmed:
            self._guard.failed(
                f"subscription to {channel} not confirmed within {self._guard.timeout_s}s"
            )
            return
        self._guard.succeeded(trial)

    async def publish(self, room_id: RoomId, message: str) -> None:
        """Publish to every process; raises :class:`EventsUnavailable` if Redis fails.

        And :class:`EventsSkipped` (a subclass) at once while the breaker is open.
        """
        packed = packed_command(b"PUBLISH", channel_name(room_id), message)
        await self._guard.run(lambda: self._publisher.call(packed), room_id)

    def _deliver(self, channel: str, payload: bytes) -> None:
        try:
            message = payload.decode("utf-8")
        except UnicodeDecodeError:
            # A WebSocket text frame must be UTF-8: such a payload has no
            # faithful way to reach a client.
            self.stats.undecodable += 1
            logger.warning("room events: non-UTF-8 message on %s skipped", channel)
            return
        self._fanout.deliver(channel, message)

    async def _release(self, sub: RoomSubscription) -> None:
        channel = channel_name(sub.room_id)
        self._fanout.remove(channel, sub)
        if not self._closed:
            await self._subscriber.sync(channel)


def _expire(confirmation: asyncio.Future[bool]) -> None:
    if not confirmation.done():
        confirmation.set_result(False)
