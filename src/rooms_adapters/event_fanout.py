"""Local delivery of room events: one bounded queue and one task per listener.

The task that reads the shared Redis connection must never wait on a
listener, or one slow WebSocket would hold back every room of the process.
It only *offers* each message to each listener's queue, which never blocks.

Slow-listener policy: a listener whose queue is full (``queue_size`` messages
not yet taken) is disconnected, not fed with gaps. Its subscription closes,
the messages still queued for it and the one that did not fit are counted in
``dropped``, and its ``on_overflow`` callback (if any) is called once so the
owner can close the client (the WebSocket server uses close code 4009). A
client that silently missed events would show a wrong lobby; one that is
told to reconnect reloads the state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rooms_domain.model import RoomId
from rooms_domain.ports import Listener

logger = logging.getLogger(__name__)

OverflowCallback = Callable[[], None]


@dataclass
class EventBusStats:
    """Cumulative counters and the connection state, for metrics."""

    delivered: int = 0  # listener calls that returned normally
    dropped: int = 0  # messages a disconnected slow listener never got
    slow_listeners: int = 0  # listeners disconnected because their queue overflowed
    listener_errors: int = 0  # listener calls that raised (the listener stays)
    undecodable: int = 0  # payloads that were not UTF-8, skipped
    reconnects: int = 0  # connections re-established after one was lost
    connected: bool = False


class RoomSubscription:
    """One listener of one room. Implements ``rooms_domain.Subscription``."""

    def __init__(
        self,
        room_id: RoomId,
        listener: Listener,
        *,
        queue_size: int,
        stats: EventBusStats,
        release: Callable[[RoomSubscription], Awaitable[None]],
        detach: Callable[[RoomSubscription], None],
        on_overflow: OverflowCallback | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.room_id = room_id
        self.closed = False
        self.overflowed = False
        self._listener = listener
        self._stats = stats
        self._release = release
        self._detach = detach
        self._on_overflow = on_overflow
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._task = asyncio.create_task(self._drain(), name=f"room-events-listener:{room_id}")

    def offer(self, message: str) -> None:
        """Queue a message for the listener; never waits."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._overflow()

    async def close(self) -> None:
        """Stop delivering; messages still queued are discarded. Safe to call twice."""
        if self.closed:
            return
        self._stop()
        await self._release(self)

    async def wait_stopped(self) -> None:
        """Wait until the delivery task has finished (after :meth:`close`)."""
        await asyncio.gather(self._task, return_exceptions=True)

    def _overflow(self) -> None:
        dropped = self._queue.qsize() + 1
        self._stats.dropped += dropped
        self._stats.slow_listeners += 1
        self.overflowed = True
        logger.warning(
            "room events listener too slow, disconnected (room %s, %d messages dropped)",
            self.room_id,
            dropped,
            extra={"room_id": str(self.room_id)},
        )
        self._stop()
        # The reader task calls this: it must not wait for the UNSUBSCRIBE.
        self._detach(self)
        if self._on_overflow is not None:
            try:
                self._on_overflow()
            except Exception:
                logger.exception("on_overflow callback failed for room %s", self.room_id)

    def _stop(self) -> None:
        self.closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        # A listener may close its own subscription; cancelling the running
        # task would then interrupt that very close(). The loop sees `closed`.
        if self._task is not asyncio.current_task():
            self._task.cancel()

    async def _drain(self) -> None:
        while not self.closed:
            message = await self._queue.get()
            try:
                await self._listener(message)
            except Exception:
                # One broken listener call must not end its delivery, nor anyone else's.
                self._stats.listener_errors += 1
                logger.exception("room events listener failed for room %s", self.room_id)
            else:
                self._stats.delivered += 1
