"""The one table from what went wrong to what the client is told (docs/protocol.md §3, §5).

Domain errors map to a wire code by class (the most specific class wins);
``retryable`` is fixed per code, never per occurrence. Anything not in the
table is ``internal_error``: the client learns nothing about the cause, the
log gets the traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from rooms_domain.errors import (
    CodeSpaceExhausted,
    IdempotencyKeyReused,
    Problem,
    RequestInProgress,
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
    details: tuple[Problem, ...] = ()

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
            details = exc.problems if isinstance(exc, ValidationFailed) else ()
            return WireError(code, message, details)
    return INTERNAL


def is_expected(exc: BaseException) -> bool:
    """Whether ``exc`` is an outcome the table names (logged quietly) or a bug (traceback)."""
    return to_wire(exc) is not INTERNAL and not isinstance(exc, UnknownUser | CodeSpaceExhausted)
