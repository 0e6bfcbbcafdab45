"""uvicorn's sans-I/O WebSocket protocol, bounded against one client hurting the others.

The stock protocol parses whatever arrives, answers every ping at once and
keeps reading while its replies pile up unsent. This subclass adds, below
the application (docs/operations.md, "Bounds"):

- **Reading follows writing.** While the socket's send buffer is over its
  high-water mark the connection is not read, so a client that sends pings
  and reads nothing blocks itself, not our memory. A keepalive failure, or a
  close the client does not read, drops the connection for good.
- **A share of the loop.** What one read brought is parsed in slices of
  :data:`FEED_STEP_BYTES`, one slice per turn of the event loop, and not
  read further until parsed.
- **A budget for control frames.** Pings and pongs take tokens from their
  own bucket; a client that empties it is closed with 4008.
- **Bounded messages.** At most ``max_fragments`` frames per message, and the
  header of every continuation frame counts toward ``max_message_bytes``:
  empty fragments cost something. Past either, 1009.
- **Invalid UTF-8** in a text message closes with 1007 and one INFO line.

Reading is paused for three reasons, each with its own flag: a message is
waiting for the app (the stock ``read_paused``), the send buffer is full
(``_write_paused``), unparsed bytes are left (``_backlog``).
:meth:`_sync_reading` is the one place that turns them into the
transport's state.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

from rooms_ws.errors import CloseCode
from rooms_ws.rate_limit import TokenBucket

logger = logging.getLogger("rooms_ws.connections")

# Bytes parsed per turn of the event loop: at most ~680 frames (a masked empty
# frame is 6 bytes), a few milliseconds of parsing, before other clients' turn.
FEED_STEP_BYTES = 4096
# After the app is done, how long the closing handshake may take beyond
# uvicorn's own close timeout before the transport is aborted.
LINGER_S = 5.0
INVALID_DATA = 1007
_CONTROL = (Opcode.PING, Opcode.PONG)
# The backlog of every connection with nothing unparsed: one shared object,
# and an emptied backlog no longer holds the bytes of the read it came from.
_NOTHING = memoryview(b"")
_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


@dataclass(frozen=True, slots=True)
class FrameLimits:
    max_message_bytes: int
    max_fragments: int
    control_per_second: float
    control_burst: int


def frame_header_bytes(payload_length: int) -> int:
    """RFC 6455 §5.2: 2 bytes, the extended length, the client's 4-byte mask."""
    extended = 0 if payload_length < 126 else 2 if payload_length < 65536 else 8
    return 2 + extended + 4


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: FrameLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits
        self._control = TokenBucket(limits.control_per_second, limits.control_burst)
        self._backlog = _NOTHING
        self._feeding: asyncio.Handle | None = None
        self._write_paused = False
        self._dropped = False
        self._linger: asyncio.TimerHandle | None = None
        self._message_bytes = 0
        self._fragments = 0

    # --- reading: in slices, and only while writes drain -------------------------

    def data_received(self, data: bytes) -> None:
        # Reading pauses while a backlog is left, so this is rarely a second one.
        self._backlog = memoryview(bytes(self._backlog) + data if self._backlog else data)
        self._feed()

    def _feed(self) -> None:
        self._feeding = None
        if self._dropped or self.disconnected:
            self._backlog = _NOTHING
            return
        if self._backlog and not (self.read_paused or self._write_paused):
            chunk, rest = self._backlog[:FEED_STEP_BYTES], self._backlog[FEED_STEP_BYTES:]
            self._backlog = rest if rest else _NOTHING
            super().data_received(bytes(chunk))
            if self.conn.handshake_exc is not None and not self.handshake_complete:
                self._refuse_request()
                return
        self._sync_reading()

    def _refuse_request(self) -> None:
        # websockets refused the request itself (a header line over its own
        # limit, too many headers, not HTTP) and wrote its answer, which uvicorn
        # never sends: send it now rather than leave the client to time out.
        self.handshake_complete = self.close_sent = self._dropped = True
        self._backlog = _NOTHING
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    def _sync_reading(self) -> None:
        if self.disconnected or self.transport.is_closing():
            return
        blocked = self.read_paused or self._write_paused
        if blocked or self._backlog:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()
        if self._backlog and not blocked and self._feeding is None:
            self._feeding = self.loop.call_soon(self._feed)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._write_paused = True
        self._sync_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._write_paused = False
        self._sync_reading()

    async def receive(self) -> ASGIReceiveEvent:
        # The stock method, not awaited from here: an idle socket parks in this
        # frame, and one coroutine less per socket is ~0.2 KiB.
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self.read_paused = False  # a message was taken: reading may resume
        self._sync_reading()
        return message

    async def send(self, message: ASGISendEvent) -> None:
        try:
            await super().send(message)  # a close resumes reading, for the client's reply
        finally:
            self._sync_reading()

    # --- frames ------------------------------------------------------------------

    def handle_events(self) -> None:
        for event in self.conn.events_received():
            if self._dropped:
                return
            if isinstance(event, Request):
                self.handle_connect(event)
            elif not isinstance(event, Frame):
                continue  # a server receives requests and frames only
            elif event.opcode in _CONTROL:
                if not self._control.take():
                    logger.info("too many control frames; closing", extra=self._context(4008))
                    self._drop(CloseCode.RATE_ABUSE, "too many control frames")
                elif event.opcode is Opcode.PING:
                    self.handle_ping()
                else:
                    self.handle_pong(event)
            elif event.opcode in _DATA:
                if not self._within_message_bounds(event):
                    logger.info("message over its bounds; closing", extra=self._context(1009))
                    self._drop(CloseCode.TOO_LARGE, "message too big")
                elif event.opcode is Opcode.CONT:
                    self.handle_cont(event)
                elif event.opcode is Opcode.TEXT:
                    self.handle_text(event)
                else:
                    self.handle_bytes(event)
            else:
                self.handle_close(event)

    def _within_message_bounds(self, frame: Frame) -> bool:
        size = len(frame.data)
        if frame.opcode is Opcode.CONT:
            # The first frame's header is free: a whole message may be exactly
            # max_message_bytes long, as it always could.
            self._fragments += 1
            self._message_bytes += size + frame_header_bytes(size)
        else:
            self._fragments, self._message_bytes = 1, size
        limits = self._limits
        return self._fragments <= limits.max_fragments and (
            self._message_bytes <= limits.max_message_bytes
        )

    def send_receive_event_to_app(self) -> None:
        # The stock version, except for invalid UTF-8: a client's mistake,
        # closed with 1007 and one INFO line, not an ERROR with a traceback.
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return
        if self.curr_msg_data_type == "text":
            try:
                text = data.decode()
            except UnicodeDecodeError as exc:
                context = self._context(INVALID_DATA) | {"position": exc.start}
                logger.info("invalid UTF-8 in a text message; closing", extra=context)
                self._drop(INVALID_DATA, "invalid UTF-8")
                return
            self.queue.put_nowait({"type": "websocket.receive", "text": text})
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": bytes(data)})
        self.read_paused = True
        self._sync_reading()

    # --- ending --------------------------------------------------------------------

    def _context(self, close_code: int) -> dict[str, Any]:
        return {"client": self.client[0] if self.client else None, "close_code": close_code}

    def _drop(self, code: int, reason: str) -> None:
        """Close with ``code`` and read nothing more from this client."""
        self._dropped = True
        self._backlog = _NOTHING
        self.conn.data_to_send()  # replies still queued (pongs): not for a client we drop
        self.conn.fail(code, reason)  # also discards whatever the client sends next
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self._close_transport()

    def _close_transport(self) -> None:
        if self._write_paused:
            # The client reads nothing: the close frame would wait behind the
            # full buffer, and the buffer (and the socket) with it, forever.
            self.transport.abort()
        else:
            self.transport.close()

    def keepalive_timeout(self) -> None:
        # Stock: a close frame and transport.close(), which waits for the send
        # buffer to drain; a client that reads nothing would keep it forever.
        super().keepalive_timeout()
        if not self.disconnected and self.transport.get_write_buffer_size():
            self.transport.abort()

    def on_task_complete(self, task: asyncio.Task[None]) -> None:
        # After the app (the task running uvicorn's run_asgi), rather than a
        # run_asgi of ours awaiting it: no second coroutine held per socket.
        super().on_task_complete(task)
        if not task.cancelled() and not self.disconnected:
            # Whatever way the app ended, the connection goes within a bound
            # even if the client never reads our close frame.
            self._linger = self.loop.call_later(self.close_timeout + LINGER_S, self._abort)

    def _abort(self) -> None:
        self._linger = None
        if not self.disconnected:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._backlog = _NOTHING
        for handle in (self._feeding, self._linger):
            if handle is not None:
                handle.cancel()
        self._feeding = self._linger = None
