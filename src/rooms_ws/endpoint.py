"""``/ws``: the handshake (docs/protocol.md §2-3), then one :class:`Session` per socket.

Every refusal happens before ``accept`` with an HTTP status through the ASGI
WebSocket denial response, so a refused client never gets a socket and
nothing is written anywhere. The checks run cheapest first, so a connect
storm or a hostile page costs no database round trip:

    Origin (403) -> process full (503) -> token (401) -> user row (401)
    -> reserve a slot: process cap (503), per-user cap (429) -> accept
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response
from starlette.websockets import WebSocket

from rooms_domain.errors import StoreUnavailable
from rooms_domain.model import UserId
from rooms_ws import metrics
from rooms_ws.auth import Identity, InvalidToken, Rejection, TokenVerifier, token_from
from rooms_ws.origins import OriginPolicy
from rooms_ws.registry import ConnectionRegistry, Refusal
from rooms_ws.session import Session, SessionServices

PATH = "/ws"

logger = logging.getLogger("rooms_ws.connections")

UserExists = Callable[[UserId], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Gateway:
    """Everything ``/ws`` needs, built once per process by the composition root."""

    session: SessionServices
    verifier: TokenVerifier
    origins: OriginPolicy
    registry: ConnectionRegistry
    user_exists: UserExists


class Refused(Exception):
    def __init__(self, refusal: Refusal, reason: str, rejection: Rejection | None = None) -> None:
        super().__init__(reason)
        self.refusal = refusal
        self.reason = reason  # for the log
        self.rejection = rejection  # for the client, with a 401

    def headers(self) -> dict[str, str]:
        if self.rejection is None:
            return {}
        # RFC 6750 §3: a request without any token gets the challenge with no
        # error code; a token that was refused gets "invalid_token".
        error = "" if self.rejection is Rejection.MISSING else 'error="invalid_token", '
        return {"WWW-Authenticate": f'Bearer {error}error_description="{self.rejection}"'}


async def websocket_endpoint(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    client = websocket.client.host if websocket.client else None
    try:
        identity = await _admit(websocket, gateway)
    except Refused as refused:
        metrics.REFUSED.labels(str(int(refused.refusal))).inc()
        logger.info(
            "handshake refused",
            extra={"status": int(refused.refusal), "reason": refused.reason, "client": client},
        )
        await websocket.send_denial_response(
            Response(status_code=int(refused.refusal), headers=refused.headers())
        )
        return
    session: Session | None = None
    opened = time.perf_counter()
    code: int | None = None
    try:
        await websocket.accept()
        session = Session(websocket, identity, gateway.session)
        gateway.registry.attach(session)
        logger.info(
            "connection open",
            extra={
                "user_id": str(identity.user_id),
                "connection_id": session.id,
                "client": client,
                "open_connections": gateway.registry.total,
            },
        )
        code = await session.run()
    finally:
        gateway.registry.release(identity.user_id, session)
        if session is not None:
            metrics.CLOSED.labels(metrics.close_code_label(code)).inc()
            logger.info(
                "connection closed",
                extra={
                    "user_id": str(identity.user_id),
                    "connection_id": session.id,
                    "close_code": code,
                    "requests": session.requests,
                    "duration_ms": round((time.perf_counter() - opened) * 1000, 3),
                },
            )


async def _admit(websocket: WebSocket, gateway: Gateway) -> Identity:
    if not gateway.origins.allows(websocket.headers.get("origin")):
        raise Refused(Refusal.FORBIDDEN_ORIGIN, "origin not allowed")
    if gateway.registry.full():
        raise Refused(Refusal.SERVER_FULL, "process connection cap reached")
    try:
        identity = gateway.verifier.verify(token_from(websocket.headers, websocket.query_params))
    except InvalidToken as exc:
        raise Refused(Refusal.UNAUTHORIZED, str(exc), exc.rejection) from None
    try:
        exists = await gateway.user_exists(identity.user_id)
    except StoreUnavailable as exc:
        # Not the client's fault, and not a verdict on its token: try again
        # later. An outage, not a bug: during one, every client reconnecting
        # lands here, so one brief line each, no traceback.
        logger.warning("user lookup failed at handshake (%s)", exc)
        raise Refused(Refusal.SERVER_FULL, "user lookup failed") from None
    except Exception:
        logger.warning("user lookup failed at handshake", exc_info=True)
        raise Refused(Refusal.SERVER_FULL, "user lookup failed") from None
    if not exists:
        raise Refused(Refusal.UNAUTHORIZED, "sub is not a user", Rejection.UNKNOWN_USER)
    refusal = gateway.registry.reserve(identity.user_id)
    if refusal is not None:
        raise Refused(refusal, "connection cap reached")
    return identity
