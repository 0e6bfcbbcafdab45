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
    └── RefusedByRoom           the request is well formed, the room's state says no
        ├── RoomNotFound        no such room, or it is closed
        ├── NotInRoom           the user (or the kicked seat) holds no seat there
        ├── NotHost             only the host may do this
        ├── RoomInGame          the room is in_game and the request needs it open
        ├── RoomFull            every usable seat is occupied
        └── NotReady            start refused; ``details`` names each blocking seat

The lobby refusals are drawn in the order that picks the answer when several
apply (``docs/protocol.md``): ``ValidationFailed`` of the payload first, then
these from top to bottom. Unlike ``ValidationFailed``, a ``RefusedByRoom`` is
stored as the request's outcome and replayed.

Live-state (cache) failures are not here on purpose: the use case swallows
them after logging, so they can never reach a caller.
"""

from __future__ import annotations

from dataclasses import dataclass


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


class RefusedByRoom(RoomsError):
    """The room's state refuses a well-formed request; the outcome is stored and replayed."""


class RoomNotFound(RefusedByRoom):
    """No room has that code or id, or the room is closed."""


class NotInRoom(RefusedByRoom):
    """The requester holds no seat in the room (or, for a kick, nobody holds the target seat)."""


class NotHost(RefusedByRoom):
    """Only the host may do this."""


class RoomInGame(RefusedByRoom):
    """The room is in a game and the request needs it open."""


class RoomFull(RefusedByRoom):
    """Every usable seat is occupied."""


@dataclass(frozen=True, slots=True)
class SeatProblem:
    """One seat that blocks the start: ``"not ready"``, or ``"empty"``."""

    seat_index: int
    problem: str


class NotReady(RefusedByRoom):
    """The game cannot start; ``details`` lists every blocking seat, by index."""

    def __init__(self, details: list[SeatProblem]) -> None:
        self.details = tuple(sorted(details, key=lambda d: d.seat_index))
        super().__init__("; ".join(f"seat {d.seat_index}: {d.problem}" for d in self.details))
