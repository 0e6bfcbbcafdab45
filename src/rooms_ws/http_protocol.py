"""uvicorn's h11 protocol, with the handshake bounded in bytes and in time.

Before a connection is a WebSocket, nobody is authenticated yet, so the
request that asks for the upgrade must be cheap to refuse (docs/operations.md,
"Bounds"):

- **Bytes.** h11 parses a growing request head without rescanning it (httptools,
  uvicorn's default, re-joined the URL at every read: quadratic) and bounds its
  own buffer (``h11_max_incomplete_event_size``). It still parses a head of any
  size that arrives whole in one read, so the bytes a request sends before its
  answer are also counted here: past ``max_head_bytes``, 431 and the
  connection is closed, which frees its buffer at once.
- **Time.** From the TCP accept to the handshake's answer (101, or a
  refusal), at most ``handshake_timeout_s``; past it the connection is
  dropped, whether it is still sending its head or waiting for the app. A
  plain HTTP connection (the service serves none) lasts no longer either.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

logger = logging.getLogger("rooms_ws.connections")

TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


class BoundedHandshakeProtocol(H11Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_head_bytes: int,
        handshake_timeout_s: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._max_head_bytes = max_head_bytes
        self._handshake_timeout_s = handshake_timeout_s
        self._received = 0  # bytes of the request being read
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A function of the transport, not a method: after an upgrade this
        # object (its parser, the request's headers) is garbage at once; a
        # timer holding it kept it alive for the whole timeout, which is the
        # most of a socket's memory when thousands connect at once.
        self._deadline = self.loop.call_later(
            self._handshake_timeout_s, _handshake_expired, transport, self.client
        )

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > self._max_head_bytes:
            logger.info("handshake over its size bound; refused", extra=self._context(431))
            self.transport.write(TOO_LARGE)
            self.transport.close()
            return
        super().data_received(data)

    def on_response_complete(self) -> None:
        self._received = 0  # a keep-alive connection's next request starts afresh
        super().on_response_complete()

    def _context(self, status: int | None) -> dict[str, Any]:
        return _context(self.client, status)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def _handshake_expired(transport: asyncio.Transport, client: tuple[str, int] | None) -> None:
    # Armed once per TCP connection: after an upgrade, the transport's
    # protocol is the WebSocket one, done once it has answered the handshake.
    if transport.is_closing():
        return
    protocol = transport.get_protocol()
    if isinstance(protocol, WebSocketsSansIOProtocol) and protocol.handshake_complete:
        return
    logger.info("handshake not done in time; dropped", extra=_context(client, None))
    transport.abort()


def _context(client: tuple[str, int] | None, status: int | None) -> dict[str, Any]:
    return {"client": client[0] if client else None, "status": status}
