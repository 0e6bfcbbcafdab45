"""What can go wrong for a client, in one hierarchy.

    RoomsClientError
    ├── ServerError         the server answered a request with an error frame
    ├── HandshakeRefused    the server refused the connection with an HTTP status
    ├── ConnectionLost      no connection, and none could be made within the attempts
    ├── ServerClosed        the server closed with a code that forbids reconnecting
    ├── ReplyTimeout        no reply to a request on any attempt
    ├── ProtocolError       the server sent what the contract does not allow
    └── ClientClosed        the client was closed while the call waited

A retryable :class:`ServerError` reaches the caller only once the attempts are
spent; a non-retryable one at once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "ClientClosed",
    "ConnectionLost",
    "ErrorCode",
    "HandshakeRefused",
    "ProtocolError",
    "ReplyTimeout",
    "RoomsClientError",
    "ServerClosed",
    "ServerError",
]


class ErrorCode(StrEnum):
    """The error codes of the contract (§3); a newer server may send others."""

    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    VALIDATION_FAILED = "validation_failed"
    REQUEST_IN_PROGRESS = "request_in_progress"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"
    ROOM_NOT_FOUND = "room_not_found"
    ROOM_FULL = "room_full"
    ROOM_IN_GAME = "room_in_game"
    NOT_IN_ROOM = "not_in_room"
    NOT_HOST = "not_host"
    NOT_READY = "not_ready"


class RoomsClientError(Exception):
    """Root of every error this package raises."""


class ServerError(RoomsClientError):
    """An ``error`` frame: ``code``, ``message``, ``retryable`` and ``details`` as sent."""

    def __init__(
        self,
        code: str,
        message: str,
        retryable: bool,
        details: list[dict[str, Any]] | None = None,
        *,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.details = list(details or [])
        self.request_id = request_id

    def problems(self) -> dict[str, str]:
        """``{field: problem}`` from the details of ``validation_failed``."""
        return {
            str(d["field"]): str(d["problem"])
            for d in self.details
            if isinstance(d, dict) and "field" in d and "problem" in d
        }

    def __repr__(self) -> str:
        return (
            f"ServerError(code={self.code!r}, message={self.message!r}, "
            f"retryable={self.retryable!r}, details={self.details!r})"
        )


class HandshakeRefused(RoomsClientError):
    """401 (token), 403 (Origin), 429 (too many connections of this user), 503 (full)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server refused the handshake with HTTP {status}")
        self.status = status

    @property
    def retryable(self) -> bool:
        # A bad token or Origin stays bad; a full server or user cap may not.
        return self.status in (429, 503)


class ConnectionLost(RoomsClientError):
    """The connection dropped or could not be opened, and the attempts are spent."""

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code


class ServerClosed(RoomsClientError):
    """Closed by the server with a code after which reconnecting would not help.

    4001: the token expired (connect again with a fresh one); 4008: rate
    abuse; 1009: a frame was too large.
    """

    def __init__(self, close_code: int | None, reason: str = "") -> None:
        super().__init__(f"the server closed the connection with {close_code} {reason}".strip())
        self.close_code = close_code
        self.reason = reason


class ReplyTimeout(RoomsClientError):
    """No reply arrived in time, on every attempt."""


class ProtocolError(RoomsClientError):
    """A reply the contract does not allow (wrong type, missing fields)."""


class ClientClosed(RoomsClientError):
    """The client was closed while this call was waiting."""
