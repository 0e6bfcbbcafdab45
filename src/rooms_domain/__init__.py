"""rooms_domain: the pure core of the rooms service (stdlib only).

Other services import this package directly: build a :class:`CreateRoom` with
adapters (``rooms_adapters.memory`` for tests) and call it with a
:class:`CreateRoomCommand`.
"""

from rooms_domain.codes import ScriptedCodeGenerator, SecureCodeGenerator, normalise
from rooms_domain.commands import CreateRoomCommand
from rooms_domain.create_room import CreateRoom, CreateRoomOutcome
from rooms_domain.errors import (
    CodeSpaceExhausted,
    IdempotencyKeyReused,
    Problem,
    Refusal,
    RequestInProgress,
    RoomsError,
    StoreUnavailable,
    UnknownUser,
    ValidationFailed,
)
from rooms_domain.live_state import LiveRoomView, LiveUpdate
from rooms_domain.model import (
    CreateRoomOk,
    Readiness,
    RequestId,
    Room,
    RoomCode,
    RoomId,
    RoomSettings,
    RoomStatus,
    Seat,
    SeatStatus,
    UserId,
    Visibility,
)
from rooms_domain.ports import (
    Claim,
    Clock,
    CodeGenerator,
    Completion,
    Fresh,
    IdempotencyStore,
    LiveStateCache,
    LiveStateFailure,
    Replay,
    RoomEvents,
    RoomRepository,
    Subscription,
    UnitOfWork,
    UnitOfWorkFactory,
)
from rooms_domain.replies import ReplyKind, RequestKey, StoredReply
from rooms_domain.system_clock import SystemClock

__all__ = [
    "Claim",
    "Clock",
    "CodeGenerator",
    "CodeSpaceExhausted",
    "Completion",
    "CreateRoom",
    "CreateRoomCommand",
    "CreateRoomOk",
    "CreateRoomOutcome",
    "Fresh",
    "IdempotencyKeyReused",
    "IdempotencyStore",
    "LiveRoomView",
    "LiveStateCache",
    "LiveStateFailure",
    "LiveUpdate",
    "Problem",
    "Readiness",
    "Refusal",
    "Replay",
    "ReplyKind",
    "RequestId",
    "RequestInProgress",
    "RequestKey",
    "Room",
    "RoomCode",
    "RoomEvents",
    "RoomId",
    "RoomRepository",
    "RoomSettings",
    "RoomStatus",
    "RoomsError",
    "ScriptedCodeGenerator",
    "Seat",
    "SeatStatus",
    "SecureCodeGenerator",
    "StoreUnavailable",
    "StoredReply",
    "Subscription",
    "SystemClock",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UnknownUser",
    "UserId",
    "ValidationFailed",
    "Visibility",
    "normalise",
]
