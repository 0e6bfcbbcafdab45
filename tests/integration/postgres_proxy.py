"""A loopback TCP proxy in front of PostgreSQL: counts round trips, can freeze or cut.

Counting on the wire measures what the driver really does (statement
preparation, BEGIN/COMMIT, pool resets included): a round trip is one burst
of client bytes answered by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


class PostgresProxy:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._freeze_on: bytes | None = None
        self.port = 0
        self.dsn = ""  # through the proxy, once started
        self.round_trips = 0

    async def start(self) -> str:
        """Listen on a free loopback port; return the DSN that goes through the proxy."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        port = self.port = self._server.sockets[0].getsockname()[1]
        parts = urlsplit(self._dsn)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in {"host", "port"}]
        # No TLS through the proxy: the count is of PostgreSQL's messages only.
        query.append(("sslmode", "disable"))
        user = parts.username or "postgres"
        netloc = f"{user}@127.0.0.1:{port}"
        self.dsn = urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
        return self.dsn

    def freeze(self) -> None:
        """Stop forwarding, keep every socket open: a server that hangs."""
        self._flowing.clear()

    def freeze_on(self, marker: bytes) -> None:
        """Freeze just before the next client message holding ``marker`` is forwarded.

        ``b"COMMIT"``: the transaction has done all its work on the server,
        and its commit is held back (until :meth:`thaw` delivers it late, or
        :meth:`cut` loses it).
        """
        self._freeze_on = marker

    @property
    def flowing(self) -> bool:
        """False while frozen (by :meth:`freeze` or a :meth:`freeze_on` that fired)."""
        return self._flowing.is_set()

    def thaw(self) -> None:
        """Forward again, everything held back included (a stall that ends)."""
        self._flowing.set()

    async def reopen(self) -> None:
        """After :meth:`cut`: accept connections again, on the same port."""
        await self.start()

    async def cut(self) -> None:
        """Close every connection and refuse new ones: a server that is gone."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._flowing.set()

    async def close(self) -> None:
        await self.cut()
        if self._server is not None:
            await self._server.wait_closed()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = urlsplit(self._dsn)
        query = dict(parse_qsl(parts.query))
        host = query.get("host") or parts.hostname or "localhost"
        port = int(query.get("port") or parts.port or 5432)
        if host.startswith("/"):
            return await asyncio.open_unix_connection(str(Path(host) / f".s.PGSQL.{port}"))
        return await asyncio.open_connection(host, port)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await self._open_upstream()
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, server_w}
        awaiting_reply = [False]

        async def pump(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool
        ) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    if up and self._freeze_on is not None and self._freeze_on in data:
                        self._freeze_on = None
                        self._flowing.clear()
                    await self._flowing.wait()
                    if up and not awaiting_reply[0]:
                        self.round_trips += 1
                    awaiting_reply[0] = up
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        try:
            await asyncio.gather(pump(client_r, server_w, True), pump(server_r, client_w, False))
        finally:
            self._writers -= {client_w, server_w}
