"""One Redis pub/sub connection that keeps itself subscribed to a changing set of channels.

The reader task owns the connection and its whole life. If Redis is
unreachable (at start or later) it retries with capped exponential backoff
and jitter; on every new connection it subscribes again to every wanted
channel, so a restart of Redis costs the messages published while it was down
(pub/sub keeps nothing) and nothing else. A connection that stays silent is
probed with PING, so a frozen server or a dead network path is noticed too.

It is a ``redis.asyncio.Connection`` of its own, driven through its public
methods (``connect``, ``send_packed_command``, ``read_response``), rather
than redis-py's ``PubSub``: ``PubSub`` reconnects and resubscribes by itself
inside its retry hooks, which would race with the reconnect loop here and
hide outages from the counters. The connection has no socket timeout of its
own: every read passes its own, and every write is bounded here, so no
command pays for redis-py's per-call ``asyncio.wait_for`` (a task on Python
3.11), which would otherwise run for each room a socket follows.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection, Iterable

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import RedisError

from rooms_adapters.event_fanout import EventBusStats
from rooms_adapters.lazy_timeout import bounded_if_it_waits
from rooms_adapters.redis_client import connection_options, packed_command

logger = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]

_SUBSCRIBE_BATCH = 500  # channels per SUBSCRIBE when resubscribing after a reconnect


class ChannelSubscriber:
    """Subscribed, whenever Redis is reachable, to exactly the channels in ``wanted``.

    ``wanted`` is a live view (e.g. ``dict.keys()``) owned by the caller, who
    calls :meth:`sync` after changing it. ``on_message(channel, payload)`` runs
    on the reader task and must not block; so does ``on_connected()``, called
    on every new connection.
    """

    def __init__(
        self,
        url: str,
        *,
        wanted: Collection[str],
        on_message: MessageHandler,
        stats: EventBusStats,
        redis_timeout_s: float,
        ping_interval_s: float,
        backoff_min_s: float,
        backoff_max_s: float,
        outage_log_every_s: float,
        client_name: str,
        on_connected: Callable[[], None] = lambda: None,
    ) -> None:
        self._wanted = wanted
        self._on_connected = on_connected
        self._on_message = on_message
        self._stats = stats
        self._redis_timeout_s = redis_timeout_s
        self._ping_interval_s = ping_interval_s
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._outage_log_every_s = outage_log_every_s
        # The pool is only a factory: it builds the connection from the URL
        # with the same parsing and options as every other client.
        self._pool = ConnectionPool.from_url(
            url, **connection_options(redis_timeout_s=redis_timeout_s, client_name=client_name)
        )
        # Bounds are ours (see the module's docstring); connecting keeps its own.
        self._connection_kwargs = {**self._pool.connection_kwargs, "socket_timeout": None}
        self._conn: AbstractConnection | None = None  # set only while usable
        self._requested: set[str] = set()  # channels SUBSCRIBEd on self._conn
        self._unconfirmed: dict[str, int] = {}  # SUBSCRIBE replies still due, per channel
        # Callers awaiting them: True once confirmed, or once there is nothing
        # left to wait for (the connection was lost: resubscribed on the next).
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        self._lock = asyncio.Lock()  # one writer of commands at a time
        self._connected = asyncio.Event()
        self._read_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._read_task is None:
            self._read_task = asyncio.create_task(self._run(), name="room-events-reader")

    async def close(self) -> None:
        reader, self._read_task = self._read_task, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        await self._pool.aclose()

    async def wait_connected(self, timeout_s: float) -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                await self._connected.wait()
        except TimeoutError:
            return False
        return True

    async def sync(self, channel: str) -> asyncio.Future[bool] | None:
        """Make the server subscription of ``channel`` match ``wanted``.

        Returns a future resolved (True) when Redis confirms the subscription,
        or None when there is nothing to wait for; the caller may resolve it
        itself (False: it stopped waiting). Never raises for Redis errors: the
        reader reconnects and resubscribes everything.
        """
        if self._lock.locked():
            # A (re)connection is subscribing everything, or a PING is being
            # written: wait for it, so the channel is not missed in between.
            async with self._lock:
                pass
        conn = self._conn
        # A dropped connection must not be revived here by redis-py's
        # implicit connect-on-send: the reader owns reconnection.
        if conn is None or not conn.is_connected:
            return None
        wanted = channel in self._wanted
        try:
            # One write of one whole command (the state is updated before the
            # first await): commands cannot interleave, so no lock.
            if wanted and channel not in self._requested:
                self._requested.add(channel)
                self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
                await self._write(conn, packed_command(b"SUBSCRIBE", channel))
            elif not wanted and channel in self._requested:
                self._requested.discard(channel)
                await self._write(conn, packed_command(b"UNSUBSCRIBE", channel))
        except (RedisError, OSError, RuntimeError, TimeoutError) as exc:
            logger.debug("room events command failed, the reader will reconnect: %s", exc)
            self._forget(conn)
            await conn.disconnect(nowait=True)  # also wakes the reader blocked on it
            return None
        return self._confirmation(channel) if wanted else None

    async def _write(self, conn: AbstractConnection, command: bytes) -> None:
        # Usually returns without suspending (the socket takes the bytes at
        # once); the bound matters, and is armed, only when Redis stops reading.
        await bounded_if_it_waits(
            self._redis_timeout_s, conn.send_packed_command(command, check_health=False)
        )

    # -- confirmations -------------------------------------------------------

    async def _send_subscribe(self, conn: AbstractConnection, channels: Iterable[str]) -> None:
        batch = list(channels)
        for channel in batch:
            self._requested.add(channel)
            self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
        await self._write(conn, packed_command(b"SUBSCRIBE", *batch))

    def _confirmation(self, channel: str) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if channel in self._unconfirmed:
            self._waiters.setdefault(channel, []).append(future)
        else:
            future.set_result(True)
        return future

    def _confirmed(self, channel: str) -> None:
        # Confirmed once every SUBSCRIBE sent for the channel has been
        # answered: replies come in order, so the last one covers the latest.
        left = self._unconfirmed.get(channel)
        if left is None:
            return
        if left > 1:
            self._unconfirmed[channel] = left - 1
            return
        del self._unconfirmed[channel]
        for future in self._waiters.pop(channel, ()):
            if not future.done():
                future.set_result(True)

    def _forget(self, conn: AbstractConnection) -> None:
        """Stop using ``conn``: no more commands on it, no confirmations from it."""
        if self._conn is conn:
            self._conn = None
            self._stats.connected = False
            self._connected.clear()
            self._reset()

    def _reset(self) -> None:
        self._requested.clear()
        self._unconfirmed.clear()
        # Nobody should wait for a confirmation that cannot come; their
        # channels are subscribed again on the next connection.
        for waiting in self._waiters.values():
            for future in waiting:
                if not future.done():
                    future.set_result(True)
        self._waiters.clear()

    # -- the reader task -----------------------------------------------------

    async def _run(self) -> None:
        backoff = self._backoff_min_s
        ever_connected = False
        failed_attempts = 0
        last_logged = float("-inf")
        loop = asyncio.get_running_loop()
        while True:
            # ConnectionPool.make_connection(), with our socket timeout.
            conn = self._pool.connection_class(**self._connection_kwargs)
            try:
                await self._connect(conn)
                if ever_connected:
                    self._stats.reconnects += 1
                if failed_attempts:
                    logger.info(
                        "room events: Redis reachable again after %d failed attempts",
                        failed_attempts,
                    )
                ever_connected, failed_attempts, backoff = True, 0, self._backoff_min_s
                await self._read(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failed_attempts += 1
                # Once per interval, not per attempt: an outage is one event.
                if loop.time() - last_logged >= self._outage_log_every_s:
                    last_logged = loop.time()
                    logger.warning(
                        "room events: Redis unavailable (%s: %s), retrying; "
                        "failed attempts so far: %d",
                        type(exc).__name__,
                        exc,
                        failed_attempts,
                    )
            finally:
                self._forget(conn)
                await conn.disconnect(nowait=True)
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self._backoff_max_s)

    async def _connect(self, conn: AbstractConnection) -> None:
        # connect() includes the handshake (CLIENT SETNAME/SETINFO), so a
        # server that accepts TCP but does not answer (SIGSTOP) fails here too.
        async with asyncio.timeout(self._redis_timeout_s * 4):
            await conn.connect()  # type: ignore[no-untyped-call]  # unannotated in redis-py
        async with self._lock:
            self._reset()
            channels = list(self._wanted)
            for start in range(0, len(channels), _SUBSCRIBE_BATCH):
                await self._send_subscribe(conn, channels[start : start + _SUBSCRIBE_BATCH])
            self._conn = conn
            self._stats.connected = True
            self._connected.set()
        self._on_connected()

    async def _read(self, conn: AbstractConnection) -> None:
        """Dispatch what arrives until the connection fails; never returns normally."""
        loop = asyncio.get_running_loop()
        poll_s = min(1.0, self._ping_interval_s)
        last_heard = loop.time()
        ping_sent_at: float | None = None
        while True:
            if self._conn is not conn:
                raise ConnectionError("subscriber connection dropped after a failed command")
            # push_request matters only if the URL asks for RESP3 (?protocol=3):
            # pub/sub messages are then push frames, which redis-py would
            # otherwise hand to its logging push handler instead of returning.
            response = await conn.read_response(
                timeout=poll_s, disconnect_on_error=True, push_request=True
            )
            now = loop.time()
            if response is not None:
                last_heard, ping_sent_at = now, None
                self._dispatch(response)
            elif ping_sent_at is not None:
                if now - ping_sent_at > self._ping_interval_s:
                    raise TimeoutError("Redis did not answer PING on the subscriber connection")
            elif now - last_heard >= self._ping_interval_s:
                async with self._lock:
                    await self._write(conn, packed_command(b"PING"))
                ping_sent_at = now

    def _dispatch(self, response: object) -> None:
        if not isinstance(response, list) or len(response) < 2:
            return  # +PONG outside subscribed mode, or nothing of ours
        kind = response[0]
        if kind == b"message" and len(response) == 3 and isinstance(response[2], bytes):
            self._on_message(_text(response[1]), response[2])
        elif kind == b"subscribe":
            self._confirmed(_text(response[1]))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
