"""``RoomsClient``: one WebSocket to a rooms server, kept open across restarts.

    supervisor task:  open (backoff) -> read frames until closed -> reopen ...
                           |                  |
                replies -> the waiting request    everything else -> room_events()

Requests are idempotent per ``request_id`` on the server, so the client may
always send one again: after a retryable error, after a dropped connection,
after a reply that never came. Each try reuses the SAME ``request_id``; the
server then answers a repeat with the first result and never creates a
second room.

After a reconnection the new socket follows no room: the client replays the
``create_room`` of every room it created (same id, same payload; the server
answers with the stored result and subscribes the socket again), then sends
``get_room`` for every room it follows. Events published while no socket was
connected are lost (pub/sub keeps no history): :meth:`RoomsClient.events`
yields that snapshot as a :class:`RoomSynced`, and does the same whenever an
event's ``version`` shows a gap (docs/protocol.md, lobby events).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.typing import Origin

from rooms_client.backoff import RetryPolicy
from rooms_client.errors import (
    ClientClosed,
    ConnectionLost,
    ConnectionRefused,
    ErrorCode,
    HandshakeRefused,
    ProtocolError,
    ReplyTimeout,
    RoomsClientError,
    ServerClosed,
    ServerError,
)
from rooms_client.events import LobbyEvent, RoomClosed, RoomSynced, Step, Versions, parse_event
from rooms_client.lobby import (
    GET_ROOM,
    JOIN_ROOM,
    KICK_PLAYER,
    LEAVE_ROOM,
    SET_READY,
    START_GAME,
    JoinRoomOk,
    KickPlayerOk,
    LeaveRoomOk,
    Room,
    SetReadyOk,
    StartGameOk,
    read_room,
)
from rooms_client.protocol import (
    CreateRoomOk,
    Reply,
    RoomEvent,
    create_room_frame,
    read_frame,
    request_frame,
)

__all__ = ["RECONNECT_CODES", "RoomsClient", "Trace"]

logger = logging.getLogger("rooms_client")

# Close codes after which the same request may succeed on a new connection:
# going away, abnormal closure (no close frame: a drop), internal error,
# service restart (docs/protocol.md §8), try again later, too slow reading (4009).
RECONNECT_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 4009})

Trace = Callable[[str, str], None]
"""``trace(direction, frame)``: ``">"`` for a frame sent, ``"<"`` for one received."""

# Ids of finished requests kept to recognise late replies (not room events).
_REMEMBERED_IDS = 1024

# get_room refusals after which the client stops following the room.
_GONE = frozenset({ErrorCode.ROOM_NOT_FOUND, ErrorCode.NOT_IN_ROOM})

RequestId = uuid.UUID | str | None


class RoomsClient:
    """A connection to ``ws://HOST:PORT/ws``; use :meth:`connect`."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        auth: Literal["header", "query"] = "header",
        origin: str | None = None,
        max_queued_events: int = 1000,
        trace: Trace | None = None,
    ) -> None:
        self._url = url
        self._trace = trace
        self._token = token
        self._policy = policy or RetryPolicy()
        self._auth = auth
        self._origin = origin
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._fatal: RoomsClientError | None = None
        self._closing = False
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._active: set[str] = set()  # ids whose request is between its first try and its end
        self._finished: OrderedDict[str, None] = OrderedDict()
        # Rooms this client follows; for those it created, the create_room to replay.
        self._followed: dict[uuid.UUID, tuple[str, str] | None] = {}
        self._versions = Versions()
        self._events: asyncio.Queue[RoomEvent | RoomSynced] = asyncio.Queue(max_queued_events)
        self._background: set[asyncio.Task[None]] = set()
        self.connections = 0  # sockets opened so far (1 + reconnections)
        self.dropped_events = 0  # room events dropped because nobody read them

    # --- opening and closing ------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        url: str,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        auth: Literal["header", "query"] = "header",
        origin: str | None = None,
        max_queued_events: int = 1000,
        trace: Trace | None = None,
    ) -> AsyncIterator[RoomsClient]:
        """Connect (with retries); the connection is closed when the block ends.

        ``auth="query"`` sends the token as ``?access_token=`` (as browsers
        must); ``trace(direction, frame)`` sees every frame sent (``">"``) and
        received (``"<"``). Raises :class:`HandshakeRefused` at once for
        401/403 (its ``description`` says why), :class:`ConnectionRefused`
        within seconds when nothing listens at ``url``, or
        :class:`ConnectionLost` when no attempt could connect. Each failed
        attempt is logged (logger ``rooms_client``, WARNING) before the next.
        """
        client = cls(
            url,
            token,
            policy=policy,
            auth=auth,
            origin=origin,
            max_queued_events=max_queued_events,
            trace=trace,
        )
        try:
            await client.start()
        except BaseException:
            await client.aclose()
            raise
        try:
            yield client
        finally:
            await client.aclose()

    async def start(self) -> None:
        """Open the first connection; return once it is open, or raise why it cannot be."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="rooms-client")
        await self._wait_connected()

    async def aclose(self) -> None:
        """Close the socket and stop reconnecting; waiting calls get :class:`ClientClosed`."""
        self._closing = True
        for task in list(self._background):
            task.cancel()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), self._policy.open_timeout_s)
        if self._supervisor is not None and not self._supervisor.done():
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._fail_pending(ClientClosed("the client was closed"))

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def in_flight(self) -> int:
        """Requests sent on the current socket and still waiting for their reply."""
        return len(self._pending)

    # --- requests ----------------------------------------------------------------------

    async def create_room(
        self,
        ruleset_id: str = "classic",
        max_players: int = 4,
        ruleset_config: Mapping[str, Any] | None = None,
        request_id: uuid.UUID | str | None = None,
        *,
        visibility: str = "private",
    ) -> CreateRoomOk:
        """Create a private room; the caller becomes its host, in seat 0.

        ``request_id`` defaults to a fresh UUID. Pass the same one again to
        learn the outcome of an earlier call whose reply was lost.
        """
        rid = str(uuid.UUID(str(request_id))) if request_id is not None else str(uuid.uuid4())
        frame = create_room_frame(
            rid,
            ruleset_id=ruleset_id,
            max_players=max_players,
            ruleset_config=ruleset_config,
            visibility=visibility,
        )
        result = CreateRoomOk.from_reply(await self._request(rid, frame))
        self._followed[result.room_id] = (rid, frame)
        self._versions.created(result.room_id)
        return result

    async def join_room(self, code: str, request_id: RequestId = None) -> JoinRoomOk:
        """Take a seat in the room with this join code (any case, hyphens and spaces allowed).

        Joining a room where this user already sits answers with that seat.
        """
        result = JoinRoomOk.from_reply(await self._send(JOIN_ROOM, request_id, code=code))
        self._follow(result.room)
        return result

    async def leave_room(self, room_id: uuid.UUID, request_id: RequestId = None) -> LeaveRoomOk:
        reply = await self._send(LEAVE_ROOM, request_id, room_id=str(room_id))
        result = LeaveRoomOk.from_reply(reply)
        # The events of this leave may still come; a later reconnection must not follow it.
        self._followed.pop(room_id, None)
        return result

    async def set_ready(
        self, room_id: uuid.UUID, ready: bool = True, request_id: RequestId = None
    ) -> SetReadyOk:
        reply = await self._send(SET_READY, request_id, room_id=str(room_id), ready=ready)
        return SetReadyOk.from_reply(reply)

    async def kick_player(
        self, room_id: uuid.UUID, seat_index: int, request_id: RequestId = None
    ) -> KickPlayerOk:
        """Empty another player's seat (host only, while the room is open)."""
        reply = await self._send(
            KICK_PLAYER, request_id, room_id=str(room_id), seat_index=seat_index
        )
        return KickPlayerOk.from_reply(reply)

    async def start_game(self, room_id: uuid.UUID, request_id: RequestId = None) -> StartGameOk:
        """Host only; every occupied seat (at least 2) ready, else ``not_ready`` with details."""
        reply = await self._send(START_GAME, request_id, room_id=str(room_id))
        return StartGameOk.from_reply(reply)

    async def get_room(self, room_id: uuid.UUID, request_id: RequestId = None) -> Room:
        """The room's snapshot (members only); this connection follows the room from now on."""
        room = read_room(await self._send(GET_ROOM, request_id, room_id=str(room_id)))
        self._follow(room)
        return room

    def _follow(self, room: Room) -> None:
        self._followed.setdefault(room.room_id, None)
        self._versions.synced(room)

    async def _send(self, kind: str, request_id: RequestId, **payload: Any) -> Reply:
        rid = str(uuid.UUID(str(request_id))) if request_id is not None else str(uuid.uuid4())
        return await self._request(rid, request_frame(kind, rid, payload))

    async def _request(self, rid: str, frame: str) -> Reply:
        """Send ``frame`` until it gets a reply that is not a retryable error."""
        if rid in self._active:
            raise ValueError(f"request {rid} is already waiting for its reply")
        self._active.add(rid)
        try:
            return await self._attempts(rid, frame)
        finally:
            self._active.discard(rid)
            self._finished[rid] = None
            while len(self._finished) > _REMEMBERED_IDS:
                self._finished.popitem(last=False)

    async def _attempts(self, rid: str, frame: str) -> Reply:
        # A reply that comes after its try gave up is dropped (see _on_frame):
        # the next try gets the same answer again from the server.
        policy = self._policy
        last: RoomsClientError = ReplyTimeout(f"no reply to {rid}")
        for attempt in range(policy.attempts):
            if attempt:
                await asyncio.sleep(policy.delay(attempt - 1))
            ws = await self._wait_connected()
            future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._pending[rid] = future
            try:
                if self._trace is not None:
                    self._trace(">", frame)
                await ws.send(frame)
                async with asyncio.timeout(policy.reply_timeout_s):
                    reply = await future
            except (ConnectionClosed, ConnectionLost) as exc:
                last = ConnectionLost(f"the connection dropped before the reply to {rid}")
                logger.info("retrying %s after a lost connection (%s)", rid, exc)
                continue
            except TimeoutError:
                last = ReplyTimeout(f"no reply to {rid} within {policy.reply_timeout_s} s")
                logger.info("retrying %s after no reply", rid)
                continue
            finally:
                if self._pending.get(rid) is future:
                    del self._pending[rid]
            error = reply.error()
            if error is None:
                return reply
            if not error.retryable:
                raise error
            last = error
            logger.info("retrying %s after %s", rid, error.code)
        raise last

    # --- room events ---------------------------------------------------------------------

    async def room_events(self) -> AsyncIterator[RoomEvent]:
        """Every frame that is not a reply, raw, in order, until the client closes.

        Raises the reason the connection could not be kept, if there is one.
        Use this or :meth:`events`, not both: they read the same queue.
        """
        async for item in self._queued():
            if isinstance(item, RoomEvent):
                yield item

    async def events(self) -> AsyncIterator[LobbyEvent | RoomSynced]:
        """The lobby events of every followed room, typed, in version order per room.

        An event whose ``version`` shows a gap or comes after a newer one makes
        the client fetch the room (``get_room``) and yield a :class:`RoomSynced`
        first; events the snapshot already holds are skipped. Frames of a type
        this client does not know are skipped too (a newer server may send some).
        """
        async for item in self._queued():
            if isinstance(item, RoomSynced):
                self._versions.synced(item.room)
                yield item
                continue
            try:
                event = parse_event(item)
            except ProtocolError:
                logger.warning("ignoring a malformed event: %.200s", item.text)
                continue
            if event is None:
                continue
            step = self._versions.step(event.room_id, event.version)
            if step is Step.RESYNC:
                synced = await self._resync(event.room_id)
                if synced is not None:
                    yield synced
                step = self._versions.step(event.room_id, event.version)
                if step is Step.RESYNC:  # the snapshot is older still: count from here
                    self._versions.accept(event.room_id, event.version)
                    step = Step.DELIVER
            if step is Step.DELIVER:
                if isinstance(event, RoomClosed):
                    self._followed.pop(event.room_id, None)
                yield event

    async def _resync(self, room_id: uuid.UUID) -> RoomSynced | None:
        logger.info("room %s: an event is missing or late, fetching the room", room_id)
        try:
            return RoomSynced(await self.get_room(room_id))
        except ServerError as exc:
            logger.warning("room %s could not be fetched again: %s", room_id, exc.code)
            if exc.code in _GONE:
                self._followed.pop(room_id, None)
                self._versions.forget(room_id)
            return None

    async def _queued(self) -> AsyncIterator[RoomEvent | RoomSynced]:
        supervisor = self._supervisor
        if supervisor is None:
            raise RuntimeError("the client is not started; use RoomsClient.connect")
        while True:
            if not self._events.empty():
                yield self._events.get_nowait()
                continue
            if supervisor.done():
                break
            getter = asyncio.ensure_future(self._events.get())
            try:
                await asyncio.wait({getter, supervisor}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                yield getter.result()
        if self._fatal is not None and not self._closing:
            raise self._fatal

    def _push_event(self, event: RoomEvent | RoomSynced) -> None:
        if self._events.full():
            # Never block the reader (replies come through it): drop the oldest.
            self._events.get_nowait()
            self.dropped_events += 1
        self._events.put_nowait(event)

    # --- the connection --------------------------------------------------------------------

    async def _wait_connected(self) -> ClientConnection:
        while True:
            ws = self._ws
            if ws is not None:
                return ws
            if self._closing:
                raise ClientClosed("the client was closed")
            if self._fatal is not None:
                raise self._fatal
            supervisor = self._supervisor
            if supervisor is None or supervisor.done():
                raise ClientClosed("the client is not running")
            waiter = asyncio.ensure_future(self._connected.wait())
            try:
                await asyncio.wait({waiter, supervisor}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    async def _supervise(self) -> None:
        policy = self._policy
        failures = 0
        try:
            while not self._closing:
                try:
                    ws = await self._open()
                except HandshakeRefused as refused:
                    if not refused.retryable:
                        raise
                    error: RoomsClientError = refused
                except ConnectionLost as lost:
                    error = lost
                else:
                    failures = 0
                    code = await self._serve(ws)
                    if self._closing:
                        return
                    if code not in RECONNECT_CODES:
                        raise ServerClosed(code, ws.close_reason or "")
                    error = ConnectionLost(f"the connection closed with {code}", code)
                failures += 1
                # Before any connection was made, a refusal means nothing
                # listens there (a wrong port), not a server restarting.
                never_connected = isinstance(error, ConnectionRefused) and not self.connections
                limit = policy.refused_attempts if never_connected else policy.attempts
                if failures >= limit:
                    raise error
                delay = policy.delay(failures - 1)
                logger.warning(
                    "%s; attempt %d of %d failed, retrying in %.1f s",
                    error,
                    failures,
                    limit,
                    delay,
                )
                await asyncio.sleep(delay)
        except RoomsClientError as fatal:
            self._fatal = fatal
            self._fail_pending(fatal)
            logger.info("rooms client stopped: %s", fatal)

    async def _open(self) -> ClientConnection:
        url, headers = self._url, {}
        if self._auth == "query":
            url = _with_query(url, access_token=self._token)
        else:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            return await connect(
                url,
                additional_headers=headers,
                origin=Origin(self._origin) if self._origin else None,
                open_timeout=self._policy.open_timeout_s,
            )
        except InvalidStatus as exc:
            response = exc.response
            challenge = response.headers.get("WWW-Authenticate")
            raise HandshakeRefused(response.status_code, challenge=challenge) from exc
        except InvalidURI:
            raise
        except OSError as exc:
            if _refused(exc):
                raise ConnectionRefused(
                    f"cannot connect to {self._url}: connection refused (is the server "
                    "running, on this host and port?)"
                ) from exc
            raise ConnectionLost(f"cannot connect to {self._url}: {exc}") from exc
        except (TimeoutError, InvalidHandshake) as exc:
            raise ConnectionLost(f"cannot connect to {self._url}: {exc}") from exc

    async def _serve(self, ws: ClientConnection) -> int | None:
        """Read until the socket closes; the close code (1006 for a drop)."""
        self.connections += 1
        self._ws = ws
        self._connected.set()
        if self.connections > 1 and self._followed:
            self._spawn(self._refollow())
        try:
            async for data in ws:
                self._on_frame(data)
        except ConnectionClosedError:
            pass  # a drop or an error close: the code says which
        finally:
            self._ws = None
            self._connected.clear()
            self._fail_pending(ConnectionLost("the connection closed", ws.close_code))
        return ws.close_code

    def _on_frame(self, data: str | bytes) -> None:
        if self._trace is not None:
            self._trace("<", data if isinstance(data, str) else data.decode("utf-8", "replace"))
        try:
            incoming = read_frame(data, self._known_ids())
        except ProtocolError:
            logger.warning("ignoring a malformed reply", exc_info=True)
            return
        if isinstance(incoming, RoomEvent):
            self._push_event(incoming)
            return
        future = self._pending.get(incoming.request_id)
        if future is not None and not future.done():
            future.set_result(incoming)
        # else: a late or duplicate reply to a request already answered or retried.

    def _known_ids(self) -> _Ids:
        return _Ids(self._active, self._finished)

    def _fail_pending(self, error: RoomsClientError) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    async def _refollow(self) -> None:
        """Follow every room again on the new socket, and catch up on what was missed."""
        for room_id, created in list(self._followed.items()):
            if created is not None and created[0] not in self._active:
                # A replay of create_room follows the room on any server version.
                try:
                    await self._request(*created)
                except RoomsClientError as exc:
                    logger.warning("could not follow room %s again: %s", room_id, exc)
            try:
                room = read_room(await self._send(GET_ROOM, None, room_id=str(room_id)))
            except ServerError as exc:
                logger.warning("could not fetch room %s again: %s", room_id, exc.code)
                if exc.code in _GONE:
                    self._followed.pop(room_id, None)
                continue
            except RoomsClientError as exc:
                logger.warning("could not fetch room %s again: %s", room_id, exc)
                continue
            self._push_event(RoomSynced(room))

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


class _Ids:
    """The request ids this client knows: a frame with one of them is a reply."""

    __slots__ = ("_active", "_finished")

    def __init__(self, active: set[str], finished: Mapping[str, None]) -> None:
        self._active = active
        self._finished = finished

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._active or request_id in self._finished


def _refused(exc: OSError) -> bool:
    """True when every address tried refused the connection (nothing listens)."""
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return True
    # A name with several addresses (localhost: ::1 and 127.0.0.1) fails with
    # one OSError listing each address's error, and no errno of its own.
    codes = re.findall(r"\[Errno (\d+)\]", str(exc))
    return bool(codes) and all(int(code) == errno.ECONNREFUSED for code in codes)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))
