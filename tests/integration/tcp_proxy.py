"""A loopback TCP proxy a test can freeze, cut, or cut in the middle of a command.

Put between a server and its Redis, it models the network faults a process
cannot tell from a sick Redis: a path that stops carrying bytes, connections
reset all at once, and a reset that lands halfway through a MULTI/EXEC
pipeline (Redis then discards the transaction).
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._trap: bytes | None = None
        self.port = 0
        self.trapped = 0  # chunks cut in half by the trap

    async def start(self) -> int:
        """Listen (on a free loopback port the first time, the same one after); return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def freeze(self) -> None:
        """Stop forwarding, keep every socket open: a path that hangs."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def abort_all(self) -> None:
        """Reset every connection open now; new ones are still accepted."""
        for writer in list(self._writers):
            writer.transport.abort()

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

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, server_w}
        try:
            await asyncio.gather(
                self._pump(client_r, server_w, upstream=True),
                self._pump(server_r, client_w, upstream=False),
            )
        finally:
            self._writers -= {client_w, server_w}

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
