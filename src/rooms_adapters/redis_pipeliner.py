"""Auto-pipelining, as ioredis does: the commands of every caller ready in one loop turn
go out in one write on one connection, and each caller gets its own reply.

    call(packed) --append (command, future)--> queue --call_soon: flush--> one write
    Redis --replies, in order--> data_received --hiredis Reader--> each future, in order

No task per call and no reader task: the replies are parsed in the protocol's
``data_received`` callback and handed to the waiting futures, in the order the
commands were written (Redis answers one connection in order).

Each caller keeps its own bound (the guard's timeout around :meth:`call`). A
caller that gives up does not take its command back: the command may already be
written, so its reply is read and dropped when it comes, and the replies after
it still go to their own callers. A caller giving up after the connection has
gone quiet for ``stall_s`` (nothing read while replies were owed) means Redis
or the path to it hangs: the connection is then dropped. A dropped or broken
connection fails every caller still waiting on it with a ``ConnectionError``
(a ``RedisError``, as redis-py would raise), and the next call connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import cast

import hiredis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.typing import EncodableT

__all__ = ["PipelineStats", "RedisPipeliner", "packed_command"]


def packed_command(*args: EncodableT) -> bytes:
    """One command in RESP, packed by hiredis (C), for :meth:`RedisPipeliner.call`.

    redis-py's asyncio connections pack in Python, which costs more than the
    rest of a live-state write; its parser is hiredis's already when hiredis
    is installed, as it is here.
    """
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]  # its stub: a 1-tuple
    return packed


class PipelineStats:
    """Cumulative counts: ``writes`` to the socket, ``commands`` they carried,
    ``connects`` (attempts to connect)."""

    __slots__ = ("commands", "connects", "writes")

    def __init__(self) -> None:
        self.writes = 0
        self.commands = 0
        self.connects = 0


class RedisPipeliner:
    """One connection to the server a redis-py pool points at, shared by every caller.

    Its connection parameters (host and port or socket path, TLS, credentials,
    database, client name, connect timeout) are the pool's, so it reaches the
    same server as the pool's own connections. Close it with :meth:`aclose`.
    """

    def __init__(self, pool: ConnectionPool, *, stall_s: float) -> None:
        # An unconnected connection of the pool's kind: its attributes are the
        # pool's parameters, parsed and checked by redis-py.
        self._params: AbstractConnection = pool.connection_class(**pool.connection_kwargs)
        self._stall_s = stall_s
        self._pipe: _Pipe | None = None
        self._connecting: asyncio.Task[_Pipe] | None = None
        self._closed = False
        self.stats = PipelineStats()

    async def call(self, packed: bytes, replies: int = 1) -> object:
        """Send ``packed`` (``replies`` commands in RESP) and return the last one's reply.

        An error reply is raised (``ResponseError``); so is a lost connection
        (``ConnectionError``) or a failure to connect (``OSError``).
        """
        pipe = self._pipe
        if pipe is None or pipe.closed:
            pipe = await self._connected()
        future = pipe.send(packed, replies)
        try:
            return await future
        except asyncio.CancelledError:
            pipe.abandoned(self._stall_s)
            raise

    async def aclose(self) -> None:
        """Drop the connection; callers still waiting fail. Later calls fail at once."""
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
        if self._pipe is not None:
            self._pipe.drop(RedisConnectionError("the pipeliner was closed"))

    async def _connected(self) -> _Pipe:
        if self._closed:
            raise RedisConnectionError("the pipeliner was closed")
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connect_done)
        # Shielded: a caller giving up must not cancel the others' connection.
        return await asyncio.shield(self._connecting)

    def _connect_done(self, task: asyncio.Task[_Pipe]) -> None:
        self._connecting = None
        if not task.cancelled() and task.exception() is None:
            self._pipe = task.result()

    async def _connect(self) -> _Pipe:
        params = self._params
        loop = asyncio.get_running_loop()
        self.stats.connects += 1
        async with asyncio.timeout(params.socket_connect_timeout):
            if isinstance(params, UnixDomainSocketConnection):
                _, pipe = await loop.create_unix_connection(
                    lambda: _Pipe(loop, self.stats), params.path
                )
            elif isinstance(params, Connection):
                ssl = params.ssl_context.get() if isinstance(params, SSLConnection) else None
                _, pipe = await loop.create_connection(
                    lambda: _Pipe(loop, self.stats),
                    params.host,
                    params.port,
                    ssl=ssl,
                )
            else:
                raise TypeError(f"unsupported connection class {type(params).__name__}")
            try:
                # The handshake, pipelined: its replies come before any caller's.
                for future in [pipe.send(command, 1) for command in await _handshake(params)]:
                    await future
            except BaseException:
                pipe.drop(RedisConnectionError("handshake failed"))
                raise
        return pipe


async def _handshake(params: AbstractConnection) -> list[bytes]:
    """AUTH, CLIENT SETNAME and SELECT as the pool's connections would send them (RESP2)."""
    commands = []
    credentials: tuple[str, ...]
    if params.credential_provider is not None:
        credentials = await params.credential_provider.get_credentials_async()
    else:
        credentials = tuple(c for c in (params.username, params.password) if c)
    if credentials:
        commands.append(packed_command(b"AUTH", *credentials))
    if params.client_name:
        commands.append(packed_command(b"CLIENT", b"SETNAME", params.client_name))
    if params.db:
        commands.append(packed_command(b"SELECT", params.db))
    return commands


class _Waiting:
    """A caller's future and how many replies its commands still owe (MULTI ... EXEC: several)."""

    __slots__ = ("future", "left")

    def __init__(self, future: asyncio.Future[object], left: int) -> None:
        self.future = future
        self.left = left


class _Pipe(asyncio.Protocol):
    """One connection: commands queued this turn, then written; replies matched in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stats: PipelineStats) -> None:
        self._loop = loop
        self._stats = stats
        self._parser = hiredis.Reader(replyError=ResponseError)
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._waiting: deque[_Waiting] = deque()
        self._flush_scheduled = False
        # When the connection last showed life while replies were owed.
        self._progress_at = 0.0
        self.closed = False

    def send(self, packed: bytes, replies: int) -> asyncio.Future[object]:
        future = self._loop.create_future()
        if self.closed:
            future.set_exception(RedisConnectionError("connection to Redis lost"))
            return future
        if not self._waiting:
            self._progress_at = self._loop.time()  # nothing was owed until now
        self._waiting.append(_Waiting(future, replies))
        self._out.append(packed)
        if not self._flush_scheduled:
            # After every callback ready now: the callers woken this turn join the write.
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if self.closed or self._transport is None or not out:
            out.clear()
            return
        self._stats.writes += 1
        self._stats.commands += len(out)
        self._transport.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()

    def abandoned(self, stall_s: float) -> None:
        """A caller gave up: drop the connection if it owes replies and has been silent too long."""
        if self._waiting and self._loop.time() - self._progress_at >= stall_s:
            self.drop(RedisConnectionError(f"Redis silent for {stall_s}s: connection dropped"))

    def drop(self, error: Exception) -> None:
        """Fail every caller still waiting and close the connection (without waiting)."""
        if not self.closed:
            self.closed = True
            if self._transport is not None:
                self._transport.abort()
        waiting, self._waiting = self._waiting, deque()
        for entry in waiting:
            if not entry.future.done():
                entry.future.set_exception(error)

    # -- asyncio.Protocol -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports are not asyncio's classes.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        error = RedisConnectionError(f"connection to Redis lost: {exc or 'closed by the server'}")
        error.__cause__ = exc
        self.drop(error)

    def data_received(self, data: bytes) -> None:
        self._progress_at = self._loop.time()
        parser = self._parser
        parser.feed(data)
        waiting = self._waiting
        while True:
            try:
                reply = parser.gets()
            except hiredis.ProtocolError as exc:
                self.drop(RedisConnectionError(f"unreadable reply from Redis: {exc}"))
                return
            if reply is False:
                return
            if not waiting:
                self.drop(RedisConnectionError("a reply from Redis that no command asked for"))
                return
            head = waiting[0]
            head.left -= 1
            if head.left:
                continue  # MULTI's +OK, a +QUEUED: the EXEC reply says it all
            waiting.popleft()
            future = head.future
            if future.done():
                continue  # its caller gave up: the reply is dropped, the order kept
            if isinstance(reply, ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def eof_received(self) -> bool:
        return False  # close: connection_lost fails whoever still waits
