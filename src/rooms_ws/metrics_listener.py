"""``GET /metrics`` served from the server's own event loop, every wait bounded.

prometheus_client's ``start_http_server`` starts one thread per TCP connection
and keeps it while the client holds the connection: 300 idle connections made
300 threads. Here a connection is a coroutine on the loop that already runs
the server: it has ``REQUEST_TIMEOUT_S`` to send a request head of at most
``MAX_HEAD_BYTES``, gets one answer and is closed. A scrape renders the
registry in the loop (a few milliseconds), which also means the adapters'
counters are read from the thread that writes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

logger = logging.getLogger(__name__)

PATH = "/metrics"
REQUEST_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 8192
_END_OF_HEAD = b"\r\n\r\n"


class MetricsListener:
    """One listening socket; :meth:`close` stops it (connections in progress time out)."""

    def __init__(self, server: asyncio.Server) -> None:
        self._server = server

    @classmethod
    async def start(cls, host: str, port: int) -> MetricsListener:
        """Listen on host:port; raises OSError when the address cannot be bound."""
        server = await asyncio.start_server(_serve_one, host, port, limit=MAX_HEAD_BYTES)
        return cls(server)

    @property
    def port(self) -> int:
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            head = await reader.readuntil(_END_OF_HEAD)
            writer.write(_response(head))
            await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        # Too slow, too long, or gone: nothing is owed to such a client.
        writer.transport.abort()
        return
    except Exception:
        logger.exception("metrics scrape failed")
        writer.transport.abort()
        return
    with contextlib.suppress(OSError):
        writer.close()


def _response(head: bytes) -> bytes:
    request_line = head.split(b"\r\n", 1)[0].split(b" ")
    method = request_line[0]
    path = request_line[1].split(b"?", 1)[0] if len(request_line) > 1 else b""
    if method not in (b"GET", b"HEAD"):
        return _message(405, "Method Not Allowed", "GET /metrics only\n")
    if path != PATH.encode():
        return _message(404, "Not Found", f"metrics are at {PATH}\n")
    body = generate_latest(REGISTRY)
    return _head(200, "OK", CONTENT_TYPE_LATEST, len(body)) + (b"" if method == b"HEAD" else body)


def _message(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return _head(status, reason, "text/plain; charset=utf-8", len(body)) + body


def _head(status: int, reason: str, content_type: str, length: int) -> bytes:
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()
