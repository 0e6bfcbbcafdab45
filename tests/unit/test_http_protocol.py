"""The bounded handshake protocol: its deadline does not keep it alive."""

from __future__ import annotations

import gc
import weakref

from uvicorn.config import Config
from uvicorn.server import ServerState

from rooms_ws.http_protocol import BoundedHandshakeProtocol
from tests.unit.test_ws_protocol import EchoApp, FakeTransport


async def test_the_handshake_deadline_holds_the_transport_not_the_protocol() -> None:
    # After an upgrade the transport's protocol is the WebSocket one; a timer
    # holding this object kept its parser and headers for the whole timeout.
    config = Config(EchoApp())
    config.load()
    protocol = BoundedHandshakeProtocol(
        config, ServerState(), {}, max_head_bytes=4096, handshake_timeout_s=60.0
    )
    transport = FakeTransport()
    protocol.connection_made(transport)
    gone = weakref.ref(protocol)
    del protocol
    gc.collect()
    assert gone() is None
