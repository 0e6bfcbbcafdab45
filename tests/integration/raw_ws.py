"""A WebSocket client on a bare socket, for what no well-behaved library will send.

Blocking sockets, driven from threads: an abuser that floods with
``sendall`` of large prepared buffers spends its time in the kernel, not
holding the GIL that the test's own event loop (the victims) needs.
"""

from __future__ import annotations

import socket
import struct
import time

# Clients must mask (RFC 6455 §5.3); a zero key leaves the payload as it is.
_MASK = b"\x00\x00\x00\x00"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True) -> bytes:
    """One masked client frame."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    return header + _MASK + payload


def upgrade_request(port: int, token: str, *, extra_headers: str = "") -> bytes:
    return (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n{extra_headers}\r\n"
    ).encode()


def read_head(sock: socket.socket, timeout_s: float = 30) -> bytes:
    """The server's HTTP response head (b"" if it closed without one)."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    return data


def status_of(head: bytes) -> int | None:
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def open_websocket(port: int, token: str) -> socket.socket:
    """A socket past a successful handshake (101)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(upgrade_request(port, token))
    head = read_head(sock)
    assert status_of(head) == 101, head[:200]
    return sock


def close_code(sock: socket.socket, within_s: float = 60) -> int | None:
    """Read frames until the server's close frame; its code (None: the socket ended first)."""
    deadline = time.monotonic() + within_s
    buffer = b""

    def need(n: int) -> bool:
        nonlocal buffer
        while len(buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no close frame within {within_s} s")
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                return False
            if not chunk:
                return False
            buffer += chunk
        return True

    while True:
        if not need(2):
            return None
        opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
        offset = 2
        if length == 126:
            if not need(4):
                return None
            (length,) = struct.unpack("!H", buffer[2:4])
            offset = 4
        elif length == 127:
            if not need(10):
                return None
            (length,) = struct.unpack("!Q", buffer[2:10])
            offset = 10
        if not need(offset + length):
            return None
        payload, buffer = buffer[offset : offset + length], buffer[offset + length :]
        if opcode == CLOSE:
            return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else 1005


def flood(sock: socket.socket, chunk: bytes, *, for_s: float) -> int:
    """Send ``chunk`` again and again for ``for_s`` seconds or until the server
    stops taking it (blocked sends) or drops the socket; the bytes sent."""
    sent = 0
    deadline = time.monotonic() + for_s
    sock.settimeout(2)
    while time.monotonic() < deadline:
        try:
            sock.sendall(chunk)
        except OSError:
            return sent
        sent += len(chunk)
    return sent
