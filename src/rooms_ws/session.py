"""One accepted WebSocket: read frames, answer each, push room events, close deliberately.

The read loop cannot die: every frame gets a reply (a result or the
contract's error), an unexpected exception becomes ``internal_error`` with
its traceback in the log, and the connection ends only by a close code the
contract names (or the client leaving).

    reader (this task)  --replies, events-->  Outbox (writer task)  -->  socket
        ^ close requests: token expiry (4001), rate abuse (4008),
          slow consumer (4009), SIGTERM drain (1012)
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.websockets import WebSocket, WebSocketDisconnect

from rooms_domain import CreateRoom, CreateRoomCommand, RoomEvents, RoomId, Subscription
from rooms_ws import metrics
from rooms_ws.auth import Identity
from rooms_ws.errors import CloseCode, ErrorCode, WireError, is_expected, to_wire
from rooms_ws.messages import (
    CREATE_ROOM,
    CREATE_ROOM_OK,
    REQUEST_TYPES,
    CreateRoomPayload,
    FrameRejected,
    Reply,
    RequestEnvelope,
    error_reply,
    parse_frame,
    peek_request_id,
    reply,
)
from rooms_ws.outbox import Outbox
from rooms_ws.rate_limit import TokenBucket

logger = logging.getLogger("rooms_ws.session")
request_log = logging.getLogger("rooms_ws.requests")


@dataclass(frozen=True, slots=True)
class SessionLimits:
    max_message_bytes: int
    rate_per_second: float
    rate_burst: int
    rate_abuse_strikes: int
    outbox_size: int
    send_timeout_s: float


@dataclass(frozen=True, slots=True)
class SessionServices:
    """Process-wide and stateless: one instance serves every connection."""

    create_room: CreateRoom
    events: RoomEvents
    limits: SessionLimits


RATE_LIMITED = WireError(ErrorCode.RATE_LIMITED, "too many messages; slow down and retry")
UNKNOWN_TYPE = WireError(ErrorCode.UNKNOWN_TYPE, "this type of request is not known")
TOO_LARGE_CLOSE_REASON = "frame too large"


class Session:
    def __init__(self, ws: WebSocket, identity: Identity, services: SessionServices) -> None:
        self.id = uuid.uuid4().hex[:12]
        self._ws = ws
        self._identity = identity
        self._services = services
        limits = services.limits
        self._limits = limits
        self._bucket = TokenBucket(limits.rate_per_second, limits.rate_burst)
        self._outbox = Outbox(
            send=self._send_text,
            close=self._send_close,
            size=limits.outbox_size,
            send_timeout_s=limits.send_timeout_s,
        )
        self._close_requested = asyncio.get_running_loop().create_future()
        self._subscriptions: dict[RoomId, Subscription] = {}
        self.client_close_code: int | None = None
        self.requests = 0

    # --- lifecycle ---------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._close_requested.done() or self._outbox.closing

    def request_close(self, code: CloseCode, *, flush: bool) -> None:
        """Ask the session to end with ``code``; the first request wins."""
        if not self._close_requested.done():
            self._close_requested.set_result((code, flush))

    async def run(self) -> int | None:
        """Serve until a close; returns the close code (ours, or the client's)."""
        writer = asyncio.create_task(self._outbox.run(), name=f"writer-{self.id}")
        expiry = asyncio.create_task(self._expire(), name=f"expiry-{self.id}")
        try:
            await self._read_loop(writer)
        finally:
            expiry.cancel()
            await self._unsubscribe_all()
            if self._close_requested.done():
                code, flush = self._close_requested.result()
                self._outbox.close(code, flush=flush)
            elif self.client_close_code is not None:
                self._outbox.abandon()
            else:
                self._outbox.close(CloseCode.NORMAL, flush=True)
            await self._finish_writer(writer)
        return self._outbox.close_code_sent or self.client_close_code

    async def _read_loop(self, writer: asyncio.Task[None]) -> None:
        while not self._close_requested.done():
            receive = asyncio.ensure_future(self._ws.receive())
            await asyncio.wait(
                {receive, writer, self._close_requested}, return_when=asyncio.FIRST_COMPLETED
            )
            if not receive.done():
                receive.cancel()
                if writer.done() and not self._close_requested.done():
                    # The writer gave up (slow consumer, or the client vanished).
                    self.request_close(CloseCode.SLOW_CONSUMER, flush=False)
                return
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                self.client_close_code = int(message.get("code", 1005))
                return
            await self._on_frame(message)
            if self._outbox.closing and not self._close_requested.done():
                self.request_close(CloseCode.SLOW_CONSUMER, flush=False)

    async def _finish_writer(self, writer: asyncio.Task[None]) -> None:
        try:
            # The writer bounds each send and the close frame; this is a backstop.
            async with asyncio.timeout(self._limits.send_timeout_s + 2.0):
                await writer
        except TimeoutError:
            writer.cancel()

    async def _expire(self) -> None:
        await asyncio.sleep(max(0.0, self._identity.expires_at - time.time()))
        self.request_close(CloseCode.TOKEN_EXPIRED, flush=False)

    # --- one frame -------------------------------------------------------------------

    async def _on_frame(self, message: Any) -> None:
        started = time.perf_counter()
        text: str | None = message.get("text")
        if self._identity.expires_at <= time.time():
            # Requests after expiry are not processed, even if the timer is late.
            self.request_close(CloseCode.TOKEN_EXPIRED, flush=False)
            return
        # uvicorn enforces ws_max_size at the protocol level; this is the same
        # rule for a server that does not (the cheap length test comes first).
        limit = self._limits.max_message_bytes
        if text is not None and len(text) * 4 > limit and len(text.encode()) > limit:
            self.request_close(CloseCode.TOO_LARGE, flush=False)
            return
        if not self._bucket.take():
            self._answer(error_reply(RATE_LIMITED, peek_request_id(text)), None, None, started)
            if self._bucket.strikes >= self._limits.rate_abuse_strikes:
                self.request_close(CloseCode.RATE_ABUSE, flush=True)
            return
        envelope: RequestEnvelope | None = None
        try:
            envelope = parse_frame(text, message.get("bytes"))
            result = await self._dispatch(envelope)
        except FrameRejected as rejected:
            result = error_reply(rejected.error, rejected.request_id)
        except Exception as exc:
            request_id = envelope.request_id if envelope is not None else None
            if not is_expected(exc):
                logger.exception(
                    "request failed",
                    extra={"user_id": str(self._identity.user_id), "request_id": request_id},
                )
            result = error_reply(to_wire(exc), request_id)
        self._answer(result, envelope, text, started)

    async def _dispatch(self, envelope: RequestEnvelope) -> Reply:
        handler = self._handlers.get(envelope.type)
        if handler is None:
            raise FrameRejected(UNKNOWN_TYPE, envelope.request_id)
        return await handler(self, envelope)

    async def _create_room(self, envelope: RequestEnvelope) -> Reply:
        payload = CreateRoomPayload.parse(envelope)
        command = CreateRoomCommand(
            user_id=self._identity.user_id,
            request_id=envelope.request_uuid,
            ruleset_id=payload.ruleset_id,
            visibility=payload.visibility,
            max_players=payload.max_players,
            ruleset_config=payload.ruleset_config,
        )
        outcome = await self._services.create_room.run(command)
        if not outcome.replayed:
            metrics.CODE_DRAWS.observe(outcome.code_draws)
        if outcome.live_state_missed:
            metrics.LIVE_STATE_MISSES.inc()
        # Subscribe before the reply is queued, so no event can fall between.
        await self._follow(outcome.result.room_id)
        return reply(CREATE_ROOM_OK, envelope.request_id, outcome.result.to_payload())

    _handlers: ClassVar[dict[str, Callable[[Session, RequestEnvelope], Awaitable[Reply]]]] = {
        CREATE_ROOM: _create_room,
    }

    def _answer(
        self, result: Reply, envelope: RequestEnvelope | None, text: str | None, started: float
    ) -> None:
        self.requests += 1
        self._outbox.offer(result.text)
        elapsed_s = time.perf_counter() - started
        # Label values must stay few, and a log carries nothing a client chose
        # freely (it could hold anything, a token included): an unknown type
        # is "other" in both, and a frame without an envelope has none.
        kind = envelope.type if envelope is not None and envelope.type in REQUEST_TYPES else "other"
        metrics.REQUESTS.labels(kind, result.outcome).inc()
        metrics.LATENCY.labels(kind).observe(elapsed_s)
        request_log.info(
            "request",
            extra={
                "user_id": str(self._identity.user_id),
                "connection_id": self.id,
                "request_id": envelope.request_id if envelope else peek_request_id(text),
                "type": kind if envelope else None,
                "outcome": result.outcome,
                "duration_ms": round(elapsed_s * 1000, 3),
            },
        )

    # --- room events -----------------------------------------------------------------

    async def _follow(self, room_id: RoomId) -> None:
        if room_id in self._subscriptions:
            return
        # The port bounds its own wait; a timeout here could cancel it halfway
        # and leave a listener registered that nobody would ever close.
        try:
            self._subscriptions[room_id] = await self._services.events.subscribe(
                room_id, self._deliver
            )
        except Exception:
            # The room exists and the client must hear so; live events are
            # best effort, like the rest of the live state.
            logger.warning(
                "could not subscribe to room events",
                exc_info=True,
                extra={"room_id": str(room_id), "connection_id": self.id},
            )

    async def _deliver(self, message: str) -> None:
        # Never blocks the process-wide fan-out: a full queue closes this
        # connection (4009) instead of slowing every other one down.
        self._outbox.offer(message)

    async def _unsubscribe_all(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, {}
        for room_id, subscription in subscriptions.items():
            try:
                await subscription.close()
            except Exception:
                logger.warning("unsubscribe failed", exc_info=True, extra={"room_id": str(room_id)})

    # --- the socket, with starlette's exceptions translated for the outbox ------------

    async def _send_text(self, text: str) -> None:
        try:
            await self._ws.send({"type": "websocket.send", "text": text})
        except (WebSocketDisconnect, OSError, RuntimeError) as exc:
            raise ConnectionError("client gone") from exc

    async def _send_close(self, code: int) -> None:
        try:
            await self._ws.send({"type": "websocket.close", "code": code, "reason": ""})
        except (WebSocketDisconnect, OSError, RuntimeError) as exc:
            raise ConnectionError("client gone") from exc
