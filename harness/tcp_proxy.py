"""A loopback TCP proxy a test can freeze, cut, or cut in the middle of a command.

Put between a server and its Redis, it models the network faults a process
cannot tell from a sick Redis: a path that stops carrying bytes, connections
reset all at once, and a reset that lands halfway through a MULTI/EXEC
pipeline (Redis then discards the transaction).
"""

from __future__ import annotations

import asyncio
import contextlib

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LoopbackProxy:
    """What every proxy here shares: a loopback listener in front of an upstream, the open
    sockets (to reset them), and a flow a test can freeze and thaw. Subclasses say how
    to reach the upstream and how the bytes are relayed."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.port = 0

    async def _listen(self) -> int:
        """Listen (on a free loopback port the first time, the same one after); return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def freeze(self) -> None:
        """Stop forwarding, keep every socket open: a peer that hangs."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Forward again, everything held back included (a stall that ends)."""
        self._flowing.set()

    def abort_all(self) -> None:
        """Reset every connection open now; new ones are still accepted."""
        for writer in list(self._writers):
            writer.transport.abort()

    async def _open_upstream(self) -> Streams:
        raise NotImplementedError

    async def _relay(self, client: Streams, server: Streams) -> None:
        """Carry bytes both ways until either side ends."""
        raise NotImplementedError

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await self._open_upstream()
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, server_w}
        try:
            await self._relay((client_r, client_w), (server_r, server_w))
        finally:
            self._writers -= {client_w, server_w}


class TcpProxy(LoopbackProxy):
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        super().__init__()
        self._upstream = (upstream_host, upstream_port)
        self._trap: bytes | None = None
        self.trapped = 0  # chunks cut in half by the trap

    async def start(self) -> int:
        """Listen (on a free loopback port the first time, the same one after); return it."""
        return await self._listen()

    def cut_mid(self, marker: bytes) -> None:
        """At the next client chunk holding ``marker``: forward half of it, then reset everything.

        With ``b"MULTI"`` the server's pipeline reaches Redis incomplete, and
        every other connection (the pub/sub one included) drops at that moment.
        """
        self._trap = marker

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.abort_all()
        self._flowing.set()
        if self._server is not None:
            await self._server.wait_closed()

    async def _open_upstream(self) -> Streams:
        return await asyncio.open_connection(*self._upstream)

    async def _relay(self, client: Streams, server: Streams) -> None:
        await asyncio.gather(
            self._pump(client[0], server[1], upstream=True),
            self._pump(server[0], client[1], upstream=False),
        )

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                if upstream and self._trap is not None and self._trap in data:
                    self._trap = None
                    self.trapped += 1
                    writer.write(data[: len(data) // 2])
                    await writer.drain()
                    self.abort_all()
                    return
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
