"""What every request gets that is not a WebSocket handshake on ``/ws``.

Starlette's default refuses a WebSocket on an unknown path with 403, the
status this server uses for a refused Origin (docs/protocol.md), and answers
a browser with ``{"detail":"Not Found"}``. Installed as the router's default
(not as a route, so nothing new is public), this answers instead:

    WebSocket on another path   404 denial response, logged like any refusal
    HTTP on /ws, no upgrade     426 with a short text naming the endpoint
    HTTP on any other path      404 with the same text
"""

from __future__ import annotations

import logging
import re

from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from rooms_ws import metrics

logger = logging.getLogger("rooms_ws.connections")

# A Host header is echoed into the text only if it looks like one.
_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$")
_LOGGED_PATH_CHARS = 200


class Fallback:
    """An ASGI app for ``router.default``; ``path`` is the one WebSocket endpoint."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._refuse_websocket(scope, receive, send)
        elif scope["type"] == "http":
            await self._answer_http(scope, receive, send)

    async def _refuse_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        metrics.REFUSED.labels("404").inc()
        logger.info(
            "handshake refused",
            extra={
                "status": 404,
                "reason": f"no WebSocket endpoint here; it is {self.path}",
                # The path only: a token may travel in the query string.
                "path": scope["path"][:_LOGGED_PATH_CHARS],
                "client": websocket.client.host if websocket.client else None,
            },
        )
        await websocket.send_denial_response(Response(status_code=404))

    async def _answer_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        url = self._endpoint_url(scope)
        if scope["path"] == self.path:
            status, first = (
                426,
                f"{self.path} takes WebSocket connections only (Upgrade: websocket)",
            )
            headers = {"Upgrade": "websocket", "Connection": "Upgrade"}
        else:
            status, first = 404, "Not found"
            headers = {}
        body = f"{first}.\nThis server speaks WebSocket only: connect to {url}\n"
        response = PlainTextResponse(
            body, status, headers={**headers, "X-Content-Type-Options": "nosniff"}
        )
        await response(scope, receive, send)

    def _endpoint_url(self, scope: Scope) -> str:
        host = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1")
                break
        if host is None or not _HOST.match(host):
            server = scope.get("server")
            address = f"[{server[0]}]" if server and ":" in server[0] else server and server[0]
            host = f"{address}:{server[1]}" if server else "HOST:PORT"
        scheme = "wss" if scope.get("scheme") == "https" else "ws"
        return f"{scheme}://{host}{self.path}"
