"""The one table from what went wrong to what the client is told (docs/protocol.md §3, §5).

Domain errors map to a wire code by class (the most specific class wins);
``retryable`` is fixed per code, never per occurrence. Anything not in the
table is ``internal_error``: the client learns nothing about the cause, the
log gets the traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from rooms_domain.errors import (
    CodeSpaceExhausted,
    IdempotencyKeyReused,
    NotHost,
    NotInRoom,
    NotReady,
    Problem,
    Refusal,
    RequestInProgress,
    RoomFull,
    RoomInGame,
    RoomNotFound,
    StoreUnavailable,
    UnknownUser,
    ValidationFailed,
)


class ErrorCode(StrEnum):
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    VALIDATION_FAILED = "validation_failed"
    REQUEST_IN_PROGRESS = "request_in_progress"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"
    # The lobby's refusals by the room's state (stored with the request, replayed).
    ROOM_NOT_FOUND = "room_not_found"
    ROOM_FULL = "room_full"
    ROOM_IN_GAME = "room_in_game"
    NOT_IN_ROOM = "not_in_room"
    NOT_HOST = "not_host"
    NOT_READY = "not_ready"


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (docs/protocol.md §8)."""

    NORMAL = 1000
    TOO_LARGE = 1009
    SERVICE_RESTART = 1012
    TOKEN_EXPIRED = 4001
    RATE_ABUSE = 4008
    SLOW_CONSUMER = 4009


@dataclass(frozen=True, slots=True)
class WireError:
    """An error as the client sees it, minus the request id."""

    code: ErrorCode
    message: str
    # A field's problem, or (not_ready) a seat's: ``{"seat_index", "problem"}``.
    details: tuple[Problem | Mapping[str, Any], ...] = ()

    @property
    def retryable(self) -> bool:
        return RETRYABLE[self.code]


RETRYABLE: dict[ErrorCode, bool] = {
    ErrorCode.BAD_MESSAGE: False,
    ErrorCode.UNKNOWN_TYPE: False,
    ErrorCode.VALIDATION_FAILED: False,
    ErrorCode.REQUEST_IN_PROGRESS: True,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: False,
    ErrorCode.RATE_LIMITED: True,
    ErrorCode.UNAVAILABLE: True,
    ErrorCode.INTERNAL_ERROR: True,
    ErrorCode.ROOM_NOT_FOUND: False,
    ErrorCode.ROOM_FULL: False,
    ErrorCode.ROOM_IN_GAME: False,
    ErrorCode.NOT_IN_ROOM: False,
    ErrorCode.NOT_HOST: False,
    ErrorCode.NOT_READY: False,
}

# Messages are for a person reading a client log; they never carry internals.
_DOMAIN_ERRORS: dict[type[Exception], tuple[ErrorCode, str]] = {
    ValidationFailed: (ErrorCode.VALIDATION_FAILED, "the payload breaks the rules in details"),
    IdempotencyKeyReused: (
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "this request_id was already used for a different payload",
    ),
    RequestInProgress: (
        ErrorCode.REQUEST_IN_PROGRESS,
        "a request with this request_id is still being processed; retry it shortly",
    ),
    StoreUnavailable: (
        ErrorCode.UNAVAILABLE,
        "the service cannot reach its database right now; nothing was created, retry later",
    ),
    # The user vanished between the handshake and the request, or the code
    # space is full: neither is the client's fault nor something it can fix.
    UnknownUser: (ErrorCode.INTERNAL_ERROR, "the server failed; nothing was created"),
    CodeSpaceExhausted: (ErrorCode.INTERNAL_ERROR, "the server failed; nothing was created"),
    RoomNotFound: (ErrorCode.ROOM_NOT_FOUND, "no open room has that code or id"),
    RoomFull: (ErrorCode.ROOM_FULL, "every seat of the room is taken"),
    RoomInGame: (ErrorCode.ROOM_IN_GAME, "the room is in a game"),
    NotInRoom: (ErrorCode.NOT_IN_ROOM, "you hold no seat in this room (or nobody holds that one)"),
    NotHost: (ErrorCode.NOT_HOST, "only the host may do this"),
    NotReady: (ErrorCode.NOT_READY, "the game cannot start; details names each blocking seat"),
}

INTERNAL = WireError(ErrorCode.INTERNAL_ERROR, "the server failed; nothing was created")
# Refusals the session decides itself, before any use case runs.
RATE_LIMITED = WireError(ErrorCode.RATE_LIMITED, "too many messages; slow down and retry")
UNKNOWN_TYPE = WireError(ErrorCode.UNKNOWN_TYPE, "this type of request is not known")
CREATES_LIMITED = WireError(
    ErrorCode.RATE_LIMITED, "too many rooms created in the last minute; retry later"
)


def to_wire(exc: BaseException) -> WireError:
    """The client-facing form of ``exc``: its row in the table, else ``internal_error``."""
    for cls in type(exc).__mro__:
        row = _DOMAIN_ERRORS.get(cls)
        if row is not None:
            code, message = row
            return WireError(code, message, _details(exc))
    return INTERNAL


def _details(exc: BaseException) -> tuple[Problem | Mapping[str, Any], ...]:
    if isinstance(exc, ValidationFailed):
        return exc.problems
    if isinstance(exc, Refusal):
        return exc.details  # only not_ready has any: one per blocking seat
    return ()


def is_expected(exc: BaseException) -> bool:
    """Whether ``exc`` is an outcome the table names (logged quietly) or a bug (traceback)."""
    return to_wire(exc) is not INTERNAL and not isinstance(exc, UnknownUser | CodeSpaceExhausted)
