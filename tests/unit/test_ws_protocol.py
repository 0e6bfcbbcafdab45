"""The bounded WebSocket protocol on a fake transport: no socket, the event loop of the test.

The real-server suite (tests/integration/test_protocol_bounds.py) shows each
bound under abuse; these show the mechanism, frame by frame.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from rooms_ws.ws_protocol import FEED_STEP_BYTES, BoundedWebSocketProtocol, FrameLimits
from tests.integration.raw_ws import CONT, PING, TEXT, frame

LIMITS = FrameLimits(
    max_message_bytes=1024, max_fragments=16, control_per_second=1.0, control_burst=1_000_000
)
HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.reading = True
        self.closed = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class EchoApp:
    """Accepts, then records what it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            self.received.append(message)
            if message["type"] == "websocket.disconnect":
                return


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked server frame in ``data``."""
    frames = []
    while data:
        opcode, length, offset = data[0] & 0x0F, data[1] & 0x7F, 2
        if length == 126:
            (length,), offset = struct.unpack("!H", data[2:4]), 4
        frames.append((opcode, bytes(data[offset : offset + length])))
        data = data[offset + length :]
    return frames


def close_code_in(transport: FakeTransport) -> int | None:
    closes = [p for op, p in server_frames(bytes(transport.written)) if op == 0x8]
    return int(struct.unpack("!H", closes[0][:2])[0]) if closes else None


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def new_protocol(
    limits: FrameLimits = LIMITS,
) -> tuple[BoundedWebSocketProtocol, FakeTransport, EchoApp]:
    app = EchoApp()
    config = Config(app, ws_max_size=limits.max_message_bytes, ws_ping_interval=None)
    config.load()
    protocol = BoundedWebSocketProtocol(config, ServerState(), {}, limits=limits)
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport, app


async def open_protocol(
    limits: FrameLimits = LIMITS,
) -> tuple[BoundedWebSocketProtocol, FakeTransport, EchoApp]:
    protocol, transport, app = new_protocol(limits)
    protocol.data_received(HANDSHAKE)
    await settle()
    assert transport.written.startswith(b"HTTP/1.1 101")
    transport.written.clear()
    return protocol, transport, app


async def test_reading_stops_while_the_send_buffer_is_full() -> None:
    protocol, transport, _ = await open_protocol()
    protocol.pause_writing()
    assert not transport.reading
    protocol.resume_writing()
    assert transport.reading


async def test_one_read_is_parsed_one_slice_per_turn_of_the_loop() -> None:
    protocol, transport, _ = await open_protocol()
    pings = frame(PING) * 2000  # 6 bytes each
    protocol.data_received(pings)
    # One slice answered, the socket not read until the rest is parsed.
    assert len(server_frames(bytes(transport.written))) == FEED_STEP_BYTES // 6
    assert not transport.reading
    await settle()
    assert len(server_frames(bytes(transport.written))) == 2000
    assert transport.reading


async def test_control_frames_past_the_budget_close_with_4008() -> None:
    limits = FrameLimits(1024, 16, control_per_second=0.001, control_burst=5)
    protocol, transport, app = await open_protocol(limits)
    protocol.data_received(frame(PING) * 5)
    assert close_code_in(transport) is None
    protocol.data_received(frame(PING))
    assert close_code_in(transport) == 4008
    assert transport.closed
    await settle()
    assert app.received[-1]["code"] == 4008


async def test_fragments_past_the_cap_close_with_1009() -> None:
    protocol, transport, _ = await open_protocol()
    protocol.data_received(frame(TEXT, b"[", fin=False) + frame(CONT, b"1", fin=False) * 15)
    assert close_code_in(transport) is None
    protocol.data_received(frame(CONT, b"1", fin=False))
    assert close_code_in(transport) == 1009


async def test_continuation_headers_count_toward_the_message_limit() -> None:
    many = FrameLimits(1024, max_fragments=10_000, control_per_second=1.0, control_burst=1)
    protocol, transport, _ = await open_protocol(many)
    # Empty fragments carry no payload, yet 6 header bytes each: 1024 // 6 fit.
    protocol.data_received(frame(TEXT, b"", fin=False) + frame(CONT, fin=False) * (1024 // 6))
    await settle()
    assert close_code_in(transport) is None
    protocol.data_received(frame(CONT, fin=False))
    await settle()
    assert close_code_in(transport) == 1009


async def test_a_single_frame_of_exactly_the_limit_is_a_message() -> None:
    protocol, transport, app = await open_protocol()
    protocol.data_received(frame(TEXT, b"x" * 1024))
    await settle()
    assert close_code_in(transport) is None
    assert app.received == [{"type": "websocket.receive", "text": "x" * 1024}]


async def test_invalid_utf8_closes_with_1007_and_one_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    protocol, transport, app = await open_protocol()
    with caplog.at_level(logging.INFO):
        protocol.data_received(frame(TEXT, b'{"a": "\xff"}'))
        await settle()
    assert close_code_in(transport) == 1007
    assert app.received[-1]["code"] == 1007
    [record] = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert record.levelno == logging.INFO and record.exc_info is None
    assert record.name == "rooms_ws.connections"


async def test_a_request_websockets_refuses_is_answered_at_once() -> None:
    protocol, transport, _ = new_protocol()
    too_long = HANDSHAKE.replace(b"\r\n\r\n", b"\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n")
    for start in range(0, len(too_long), FEED_STEP_BYTES):
        protocol.data_received(too_long[start : start + FEED_STEP_BYTES])
        await settle()
    assert transport.written.startswith(b"HTTP/1.1 431")
    assert transport.closed


async def test_a_parsed_read_is_not_held_by_the_emptied_backlog() -> None:
    # An idle socket kept the bytes of its last read (and a view of them) alive.
    protocol, _, app = await open_protocol()
    protocol.data_received(frame(TEXT, b"hello"))
    await settle()
    assert app.received[-1]["text"] == "hello"
    assert protocol._backlog.obj == b""
