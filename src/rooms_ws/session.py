"""One accepted WebSocket: read frames, answer each, push room events, close deliberately.

The read loop cannot die: every frame gets a reply (a result or the
contract's error), an unexpected exception becomes ``internal_error`` with
its traceback in the log, and the connection ends only by a close code the
contract names (or the client leaving).

    reader (this task)  --replies-->  Outbox  -->  socket
    room events (the bus's one task)  --->  (a writer task only while frames queue)
        ^ close requests: token expiry (4001, a timer shared per second), rate abuse (4008),
          slow consumer (4009), SIGTERM drain (1012)

The outbox is the only queue between a room and the socket: the event bus
hands each frame to :meth:`Outbox.offer` from its own task, and an outbox
that overflows closes this connection with 4009. Following a room costs a
subscription, no task; a connection follows at most ``max_followed_rooms``
rooms, and following one more drops the one followed least recently (see
``docs/protocol.md``, room events).

An idle connection costs no task of its own: the reader awaits ``receive()``
directly, and a close request that arrives meanwhile interrupts that wait
(by cancelling it, and only it); a request in progress is never interrupted.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect

from rooms_domain import CreateRoom, CreateRoomCommand, RoomEvents, RoomId, Subscription, UserId
from rooms_domain.commands import (
    GetRoomCommand,
    JoinRoomCommand,
    KickPlayerCommand,
    LeaveRoomCommand,
    LobbyCommand,
    SetReadyCommand,
    StartGameCommand,
)
from rooms_domain.ports import Clock, LiveStateCache, RoomMessage, UnitOfWorkFactory
from rooms_domain.presence import Presence
from rooms_domain.use_cases import GetRoom, JoinRoom, KickPlayer, LeaveRoom, SetReady, StartGame
from rooms_domain.use_cases.lobby import LiveSteps, LobbyOutcome
from rooms_ws import metrics
from rooms_ws.auth import Identity
from rooms_ws.errors import (
    CREATES_LIMITED,
    RATE_LIMITED,
    UNKNOWN_TYPE,
    CloseCode,
    is_expected,
    to_wire,
)
from rooms_ws.expiry import ExpiryTimers
from rooms_ws.messages import (
    CREATE_ROOM,
    CREATE_ROOM_OK,
    GET_ROOM,
    JOIN_ROOM,
    JOIN_ROOM_OK,
    KICK_PLAYER,
    KICK_PLAYER_OK,
    LEAVE_ROOM,
    LEAVE_ROOM_OK,
    REQUEST_TYPES,
    ROOM,
    SET_READY,
    SET_READY_OK,
    START_GAME,
    START_GAME_OK,
    EncodedReply,
    FrameRejected,
    RequestEnvelope,
    error_reply,
    parse_frame,
    peek_request_id,
    reply,
)
from rooms_ws.outbox import Outbox
from rooms_ws.presence import PresenceTracker
from rooms_ws.rate_limit import KeyedBudget, TokenBucket

UseCase = TypeVar("UseCase", bound=LiveSteps)

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
    max_followed_rooms: int


@dataclass(frozen=True, slots=True)
class LobbyServices:
    """The lobby's use cases (docs/protocol.md), one per request."""

    join_room: JoinRoom
    leave_room: LeaveRoom
    set_ready: SetReady
    kick_player: KickPlayer
    start_game: StartGame
    get_room: GetRoom

    @classmethod
    def on(
        cls,
        *,
        uow_factory: UnitOfWorkFactory,
        live_state: LiveStateCache,
        clock: Clock,
        live_state_timeout_s: float,
        presence: Presence | None,
    ) -> LobbyServices:
        """Every lobby use case on the same stores (as create_room's); without
        ``presence`` no seat is ever held, so a rejoin has none to take back."""

        def made(kind: type[UseCase]) -> UseCase:
            return kind(
                uow_factory=uow_factory,
                live_state=live_state,
                clock=clock,
                live_state_timeout_s=live_state_timeout_s,
                presence=presence,
            )

        return cls(
            join_room=made(JoinRoom),
            leave_room=made(LeaveRoom),
            set_ready=made(SetReady),
            kick_player=made(KickPlayer),
            start_game=made(StartGame),
            get_room=made(GetRoom),
        )


@dataclass(frozen=True, slots=True)
class SessionServices:
    """Process-wide and stateless: one instance serves every connection."""

    create_room: CreateRoom
    events: RoomEvents
    limits: SessionLimits
    # Creates per user per minute, across all the user's sockets on this process.
    create_budget: KeyedBudget[UserId]
    lobby: LobbyServices
    # Told of every room this connection starts or stops following (None: no presence).
    presence: PresenceTracker | None = None
    # When each connection's token expires: one timer per second, not per socket.
    expiries: ExpiryTimers = field(default_factory=ExpiryTimers)


# After its events, a change that ends this connection's following of a room
# (its user left or was kicked, or the room closed) lets the rest of that
# change's events through for this long, then unsubscribes.
UNFOLLOW_GRACE_S = 1.0


TOO_LARGE_CLOSE_REASON = "frame too large"

# Metric children by label values (few: the request types and outcome codes),
# so a request does not pay prometheus_client's labels() lookup and lock.
_REQUESTS: dict[tuple[str, str], Any] = {}
_LATENCY: dict[str, Any] = {}


class Session:
    __slots__ = (
        "_bucket",
        "_close",
        "_ended",
        "_expiry",
        "_identity",
        "_interrupting",
        "_limits",
        "_outbox",
        "_parked",
        "_services",
        "_subscriptions",
        "_task",
        "_user",
        "_ws",
        "client_close_code",
        "id",
        "requests",
    )

    def __init__(self, ws: WebSocket, identity: Identity, services: SessionServices) -> None:
        self.id = uuid.uuid4().hex[:12]
        self._ws = ws
        self._identity = identity
        self._user = str(identity.user_id)  # as logged
        self._services = services
        limits = services.limits
        self._limits = limits
        self._bucket = TokenBucket(limits.rate_per_second, limits.rate_burst)
        self._outbox = Outbox(
            send=self._send_text,
            close=self._send_close,
            size=limits.outbox_size,
            send_timeout_s=limits.send_timeout_s,
            on_stop=self._interrupt,
        )
        self._close: tuple[CloseCode, bool] | None = None  # the first close request
        self._task: asyncio.Task[Any] | None = None  # the reader, while run() runs
        self._parked = False  # the reader is waiting in receive()
        self._interrupting = False  # we cancelled that wait
        self._expiry = 0  # this connection's key in services.expiries, while run() runs
        # Followed rooms, least recently followed first (dicts keep insertion order).
        self._subscriptions: dict[RoomId, Subscription] = {}
        # Rooms this connection stops following: the version of the change that ended it.
        self._ended: dict[RoomId, int] = {}
        self.client_close_code: int | None = None
        self.requests = 0

    # --- lifecycle ---------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._close is not None or self._outbox.closing

    def request_close(self, code: CloseCode, *, flush: bool) -> None:
        """Ask the session to end with ``code``; the first request wins."""
        if self._close is None:
            self._close = (code, flush)
            self._interrupt()

    def _interrupt(self) -> None:
        # Wake the reader if it is waiting for a frame; a request in progress
        # runs to its end and the loop sees the close request after it.
        task = self._task
        if self._parked and not self._interrupting and task is not None:
            self._interrupting = True
            task.cancel()

    async def run(self) -> int | None:
        """Serve until a close; returns the close code (ours, or the client's)."""
        self._task = asyncio.current_task()
        expiries = self._services.expiries
        self._expiry = expiries.add(self._identity.expires_at, self)
        try:
            # The read loop is inline, not a coroutine of its own: an idle
            # socket parks here, and each coroutine it holds is ~0.2 KiB.
            receive = self._ws.receive
            while True:
                if self._close is not None:
                    break
                if self._outbox.closing:
                    # The outbox gave up (slow consumer, or the client vanished).
                    self.request_close(CloseCode.SLOW_CONSUMER, flush=False)
                    break
                self._parked = True
                try:
                    message = await receive()
                except asyncio.CancelledError:
                    if self._interrupting:
                        self._interrupting = False
                        task = asyncio.current_task()
                        if task is not None and task.uncancel() == 0:
                            continue  # only our interruption: the loop's checks end it
                    raise
                finally:
                    self._parked = False
                if message["type"] == "websocket.disconnect":
                    self.client_close_code = int(message.get("code", 1005))
                    break
                await self._on_frame(message)
        finally:
            expiries.discard(self._expiry, self)
            self._task = None
            await self._unsubscribe_all()
            if self._close is not None:
                code, flush = self._close
                self._outbox.close(code, flush=flush)
            elif self.client_close_code is not None:
                self._outbox.abandon()
            else:
                self._outbox.close(CloseCode.NORMAL, flush=True)
            await self._outbox.finish()
        # A close that could not be delivered (the client reads nothing, not
        # even the close frame) still ended the connection for that reason.
        outbox = self._outbox
        return outbox.close_code_sent or self.client_close_code or outbox.close_code

    def expired(self) -> None:
        """The token expired (told by ``services.expiries``)."""
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
            await self._answer(
                error_reply(RATE_LIMITED, peek_request_id(text)), None, None, started
            )
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
        await self._answer(result, envelope, text, started)

    async def _dispatch(self, envelope: RequestEnvelope) -> EncodedReply:
        handler = self._handlers.get(envelope.type)
        if handler is None:
            raise FrameRejected(UNKNOWN_TYPE, envelope.request_id)
        return await handler(self, envelope)

    async def _create_room(self, envelope: RequestEnvelope) -> EncodedReply:
        command = CreateRoomCommand.from_payload(
            self._identity.user_id, envelope.request_uuid, envelope.payload
        )
        budget = self._services.create_budget
        if not budget.take(self._identity.user_id):
            raise FrameRejected(CREATES_LIMITED, envelope.request_id)
        # Only a room made costs budget: a replay (a client re-following its
        # rooms after a reconnection replays every create) or a failure the
        # client is told to retry (unavailable, request_in_progress) does not.
        try:
            outcome = await self._services.create_room.run(command)
        except BaseException:
            budget.give_back(self._identity.user_id)
            raise
        if outcome.replayed:
            budget.give_back(self._identity.user_id)
        else:
            metrics.CODE_DRAWS.observe(outcome.code_draws)
        if outcome.live_state_missed:
            metrics.LIVE_STATE_MISSES.inc()
        # Subscribe before the reply is queued, so no event can fall between.
        await self._follow(outcome.result.room_id)
        return reply(CREATE_ROOM_OK, envelope.request_id, outcome.result.to_payload())

    async def _lobby_request(
        self,
        envelope: RequestEnvelope,
        command_type: type[LobbyCommand],
        run: Callable[[Any], Awaitable[LobbyOutcome]],
    ) -> LobbyOutcome:
        command = command_type.from_payload(
            self._identity.user_id, envelope.request_uuid, envelope.payload
        )
        outcome = await run(command)
        if outcome.live_state_missed:
            metrics.LIVE_STATE_MISSES.inc()
        return outcome

    async def _join_room(self, envelope: RequestEnvelope) -> EncodedReply:
        lobby = self._services.lobby
        outcome = await self._lobby_request(envelope, JoinRoomCommand, lobby.join_room.run)
        if outcome.member:  # a replay too, while the seat is still the user's
            await self._follow(outcome.room_id)
        return reply(JOIN_ROOM_OK, envelope.request_id, outcome.payload)

    async def _get_room(self, envelope: RequestEnvelope) -> EncodedReply:
        outcome = await self._lobby_request(
            envelope, GetRoomCommand, self._services.lobby.get_room.run
        )
        await self._follow(outcome.room_id)
        return reply(ROOM, envelope.request_id, outcome.payload)

    async def _leave_room(self, envelope: RequestEnvelope) -> EncodedReply:
        outcome = await self._lobby_request(
            envelope, LeaveRoomCommand, self._services.lobby.leave_room.run
        )
        # Normally the leave's own player_left ends the following (see
        # _deliver); when it could not be published, nothing else will. A
        # replay changes nothing: the user may have rejoined since.
        if outcome.live_state_missed:
            await self._unfollow(outcome.room_id)
        return reply(LEAVE_ROOM_OK, envelope.request_id, outcome.payload)

    async def _set_ready(self, envelope: RequestEnvelope) -> EncodedReply:
        lobby = self._services.lobby
        outcome = await self._lobby_request(envelope, SetReadyCommand, lobby.set_ready.run)
        return reply(SET_READY_OK, envelope.request_id, outcome.payload)

    async def _kick_player(self, envelope: RequestEnvelope) -> EncodedReply:
        lobby = self._services.lobby
        outcome = await self._lobby_request(envelope, KickPlayerCommand, lobby.kick_player.run)
        return reply(KICK_PLAYER_OK, envelope.request_id, outcome.payload)

    async def _start_game(self, envelope: RequestEnvelope) -> EncodedReply:
        lobby = self._services.lobby
        outcome = await self._lobby_request(envelope, StartGameCommand, lobby.start_game.run)
        return reply(START_GAME_OK, envelope.request_id, outcome.payload)

    _handlers: ClassVar[
        dict[str, Callable[[Session, RequestEnvelope], Awaitable[EncodedReply]]]
    ] = {
        CREATE_ROOM: _create_room,
        JOIN_ROOM: _join_room,
        LEAVE_ROOM: _leave_room,
        SET_READY: _set_ready,
        KICK_PLAYER: _kick_player,
        START_GAME: _start_game,
        GET_ROOM: _get_room,
    }

    async def _answer(
        self,
        result: EncodedReply,
        envelope: RequestEnvelope | None,
        text: str | None,
        started: float,
    ) -> None:
        self.requests += 1
        await self._outbox.send(result.text)
        elapsed_s = time.perf_counter() - started
        # Label values must stay few, and a log carries nothing a client chose
        # freely (it could hold anything, a token included): an unknown type
        # is "other" in both, and a frame without an envelope has none.
        kind = envelope.type if envelope is not None and envelope.type in REQUEST_TYPES else "other"
        outcome = result.outcome
        counter = _REQUESTS.get((kind, outcome))
        if counter is None:
            counter = _REQUESTS[(kind, outcome)] = metrics.REQUESTS.labels(kind, outcome)
        counter.inc()
        latency = _LATENCY.get(kind)
        if latency is None:
            latency = _LATENCY[kind] = metrics.LATENCY.labels(kind)
        latency.observe(elapsed_s)
        if request_log.isEnabledFor(logging.INFO):
            request_log.info(
                "request",
                extra={
                    "user_id": self._user,
                    "connection_id": self.id,
                    "request_id": envelope.request_id if envelope else peek_request_id(text),
                    "type": kind if envelope else None,
                    "outcome": outcome,
                    "duration_ms": round(elapsed_s * 1000, 3),
                },
            )

    # --- room events -----------------------------------------------------------------

    async def _follow(self, room_id: RoomId) -> None:
        self._ended.pop(room_id, None)  # following again (a rejoin)
        followed = self._subscriptions
        subscription = followed.pop(room_id, None)
        if subscription is not None:
            followed[room_id] = subscription  # followed again: now the most recent
            return
        # The port bounds its own wait; a timeout here could cancel it halfway
        # and leave a listener registered that nobody would ever close. The
        # listener only offers to the outbox: events reach the socket through
        # the one queue this connection has.
        try:
            followed[room_id] = await self._services.events.subscribe(
                room_id, functools.partial(self._deliver, room_id)
            )
        except Exception:
            # The room exists and the client must hear so; live events are
            # best effort, like the rest of the live state.
            logger.warning(
                "could not subscribe to room events",
                exc_info=True,
                extra={"room_id": str(room_id), "connection_id": self.id},
            )
            return
        presence = self._services.presence
        if presence is not None:
            # Connected here (a reconnection publishes player_reconnected).
            await presence.followed(room_id, self._identity.user_id)
        if len(followed) > self._limits.max_followed_rooms:
            # One room more than allowed: stop following the least recent.
            await self._unfollow(next(iter(followed)))

    def _deliver(self, room_id: RoomId, message: RoomMessage) -> bool:
        # The bus read the message's fields once for every follower: no parse here.
        ended = self._ended.get(room_id)
        if ended is not None and message.version > ended:
            return True  # no more events of a room this connection stopped following
        # Never blocks the process-wide fan-out: a full queue closes this
        # connection (4009) instead of slowing every other one down.
        taken = self._outbox.offer(message.text)
        # The events that end the following: this user's own player_left (left
        # or kicked), or room_closed (docs/protocol.md).
        kind = message.type
        if ended is None and (
            kind == "room_closed" or (kind == "player_left" and message.user_id == self._user)
        ):
            version = self._ended[room_id] = message.version
            asyncio.get_running_loop().call_later(
                UNFOLLOW_GRACE_S,
                _in_background,
                functools.partial(self._unfollow, room_id, at_version=version),
            )
        return taken

    async def _unfollow(self, room_id: RoomId, at_version: int | None = None) -> None:
        """Stop following the room (unless it was followed again since ``at_version``)."""
        if at_version is not None and self._ended.get(room_id) != at_version:
            return
        self._ended.pop(room_id, None)
        subscription = self._subscriptions.pop(room_id, None)
        if subscription is not None:
            await self._unsubscribe(room_id, subscription)

    async def _unsubscribe_all(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, {}
        for room_id, subscription in subscriptions.items():
            await self._unsubscribe(room_id, subscription)

    async def _unsubscribe(self, room_id: RoomId, subscription: Subscription) -> None:
        try:
            await subscription.close()
        except Exception:
            logger.warning("unsubscribe failed", exc_info=True, extra={"room_id": str(room_id)})
        presence = self._services.presence
        if presence is not None:
            # Possibly the user's last socket on the room: disconnected, seat held.
            await presence.unfollowed(room_id, self._identity.user_id)

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


# Tasks started from timers, held until done (the loop keeps only weak references).
_BACKGROUND: set[asyncio.Task[None]] = set()


def _in_background(step: Callable[[], Coroutine[Any, Any, None]]) -> None:
    task = asyncio.ensure_future(step())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
