"""Errors the domain raises.

Every error of this package derives from :class:`RoomsError`; the entrypoint
maps each class to one wire error code, so a new class needs a row there too.

    RoomsError
    ├── ValidationFailed        the command breaks one or more rules (all listed)
    ├── IdempotencyKeyReused    same (user, request_id), different payload
    ├── RequestInProgress       same (user, request_id) still running elsewhere
    ├── UnknownUser             the acting user is not a row of ``users``
    ├── CodeSpaceExhausted      every drawn join code was taken
    ├── StoreUnavailable        the durable store is unreachable or too slow
    └── Refusal                 a valid request the room's state refuses (stored, replayed)
        ├── RoomNotFound        no such room, or it is closed
        ├── NotInRoom           the user (or the kicked seat) holds no seat there
        ├── NotHost             only the host may do this
        ├── RoomInGame          the room is in_game and the request needs it open
        ├── RoomFull            every usable seat is occupied
        └── NotReady            start refused; ``details`` names each blocking seat

The lobby refusals are drawn in the order that picks the answer when several
apply (``docs/protocol.md``): ``ValidationFailed`` of the payload first, then
these from top to bottom. Unlike ``ValidationFailed``, a ``Refusal`` is
stored as the request's outcome and replayed.

Live-state (cache) failures are not here on purpose: the use case swallows
them after logging, so they can never reach a caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class RoomsError(Exception):
    """Root of every error the domain raises."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: which field, and what is wrong with it."""

    field: str
    problem: str


class ValidationFailed(RoomsError):
    """The command breaks at least one rule; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.problem}" for p in problems))


class IdempotencyKeyReused(RoomsError):
    """The request id was used before by this user for a different payload."""


class RequestInProgress(RoomsError):
    """The same request id of this user is still being processed."""


class UnknownUser(RoomsError):
    """The acting user does not exist."""


class CodeSpaceExhausted(RoomsError):
    """No free join code was found within the allowed number of draws."""


class StoreUnavailable(RoomsError):
    """The durable store could not be reached, or did not answer in time."""


class Refusal(RoomsError):
    """A valid request that the room's state refuses (the room is full, not the host, ...).

    Unlike the errors above, a refusal is an answer: it is stored with the
    request (``ws_idempotency`` status ``failed``) and raised again, equal, on
    every repeat of it. Each kind is a subclass; ``details`` is JSON.
    """

    _kinds: ClassVar[dict[str, type[Refusal]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Refusal._kinds[cls.__name__] = cls

    def __init__(self, message: str, details: tuple[dict[str, Any], ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, Refusal)
            and (other.message, other.details) == (self.message, self.details)
        )

    def __hash__(self) -> int:
        return hash((type(self), self.message))

    def to_payload(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "message": self.message, "details": list(self.details)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Refusal:
        kind = cls._kinds.get(str(payload["kind"]), Refusal)
        return kind(str(payload["message"]), tuple(payload.get("details", ())))


class RoomNotFound(Refusal):
    """No room has that code or id, or the room is closed."""


class NotInRoom(Refusal):
    """The requester holds no seat in the room (or, for a kick, nobody holds the target seat)."""


class NotHost(Refusal):
    """Only the host may do this."""


class RoomInGame(Refusal):
    """The room is in a game and the request needs it open."""


class RoomFull(Refusal):
    """Every usable seat is occupied."""


@dataclass(frozen=True, slots=True)
class SeatProblem:
    """One seat that blocks the start: ``"not ready"``, or ``"empty"``."""

    seat_index: int
    problem: str


class NotReady(Refusal):
    """The game cannot start; ``details`` holds one ``{seat_index, problem}`` per blocking seat."""

    @classmethod
    def blocking(cls, problems: list[SeatProblem]) -> NotReady:
        ordered = sorted(problems, key=lambda p: p.seat_index)
        return cls(
            "; ".join(f"seat {p.seat_index}: {p.problem}" for p in ordered),
            tuple({"seat_index": p.seat_index, "problem": p.problem} for p in ordered),
        )

    @property
    def seats(self) -> tuple[SeatProblem, ...]:
        """The blocking seats, by index."""
        return tuple(SeatProblem(int(d["seat_index"]), str(d["problem"])) for d in self.details)
