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

from harness.tcp_proxy import LoopbackProxy, Streams


class PostgresProxy(LoopbackProxy):
    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._dsn = dsn
        self._freeze_on: bytes | None = None
        self.dsn = ""  # through the proxy, once started
        self.round_trips = 0

    async def start(self) -> str:
        """Listen on a free loopback port; return the DSN that goes through the proxy."""
        port = await self._listen()
        parts = urlsplit(self._dsn)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in {"host", "port"}]
        # No TLS through the proxy: the count is of PostgreSQL's messages only.
        query.append(("sslmode", "disable"))
        user = parts.username or "postgres"
        netloc = f"{user}@127.0.0.1:{port}"
        self.dsn = urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
        return self.dsn

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

    async def reopen(self) -> None:
        """After :meth:`cut`: accept connections again, on the same port."""
        await self.start()

    async def cut(self) -> None:
        """Close every connection and refuse new ones: a server that is gone."""
        if self._server is not None:
            self._server.close()
        self.abort_all()
        self._flowing.set()

    async def close(self) -> None:
        await self.cut()
        if self._server is not None:
            await self._server.wait_closed()

    async def _open_upstream(self) -> Streams:
        parts = urlsplit(self._dsn)
        query = dict(parse_qsl(parts.query))
        host = query.get("host") or parts.hostname or "localhost"
        port = int(query.get("port") or parts.port or 5432)
        if host.startswith("/"):
            return await asyncio.open_unix_connection(str(Path(host) / f".s.PGSQL.{port}"))
        return await asyncio.open_connection(host, port)

    async def _relay(self, client: Streams, server: Streams) -> None:
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

        await asyncio.gather(pump(client[0], server[1], True), pump(server[0], client[1], False))
