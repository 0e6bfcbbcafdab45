"""Errors the domain raises.

Every error of this package derives from :class:`RoomsError`; the entrypoint
maps each class to one wire error code, so a new class needs a row there too.

    RoomsError
    ├── ValidationFailed        the command breaks one or more rules (all listed)
    ├── IdempotencyKeyReused    same (user, request_id), different payload
    ├── RequestInProgress       same (user, request_id) still running elsewhere
    ├── UnknownUser             the acting user is not a row of ``users``
    ├── CodeSpaceExhausted      every drawn join code was taken
    └── StoreUnavailable        the durable store is unreachable or too slow

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
