"""The room aggregate and its value objects; the rules of story 1.1 live here."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

from rooms_domain.errors import Problem, ValidationFailed

UserId = NewType("UserId", uuid.UUID)
RoomId = NewType("RoomId", uuid.UUID)
RequestId = NewType("RequestId", uuid.UUID)

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CODE_LENGTH = 6
SEAT_COUNT = 4
MIN_PLAYERS, MAX_PLAYERS = 2, 4
SUPPORTED_RULESETS = frozenset({"classic"})
MAX_RULESET_CONFIG_BYTES = 4096
MAX_JSON_DEPTH = 64


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class RoomStatus(StrEnum):
    OPEN = "open"
    IN_GAME = "in_game"
    CLOSED = "closed"


class SeatStatus(StrEnum):
    EMPTY = "empty"
    OCCUPIED = "occupied"


class Readiness(StrEnum):
    NOT_READY = "not_ready"
    READY = "ready"


class RoomCode(str):
    """Six characters of the Crockford alphabet; construction checks it."""

    __slots__ = ()

    def __new__(cls, value: str) -> RoomCode:
        if len(value) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in value):
            raise ValueError(f"a room code is {CODE_LENGTH} characters of {CODE_ALPHABET}")
        return super().__new__(cls, value)


def compact_json(value: object) -> str:
    """The one JSON spelling used for sizes, fingerprints and stored text."""
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
    )


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """What the creator chose; only :meth:`checked` builds one from untrusted input."""

    visibility: Visibility
    max_players: int
    ruleset_id: str
    ruleset_config: dict[str, object]

    @classmethod
    def checked(
        cls, *, visibility: object, max_players: object, ruleset_id: object, ruleset_config: object
    ) -> RoomSettings:
        """Apply every rule and report every broken one at once."""
        problems: list[Problem] = []
        if visibility != Visibility.PRIVATE.value or not isinstance(visibility, str):
            problems.append(Problem("visibility", 'must be "private"'))
        # bool is an int subclass in Python, but `true` is not a player count.
        if (
            not isinstance(max_players, int)
            or isinstance(max_players, bool)
            or not MIN_PLAYERS <= max_players <= MAX_PLAYERS
        ):
            problems.append(
                Problem("max_players", f"must be an integer from {MIN_PLAYERS} to {MAX_PLAYERS}")
            )
        if not isinstance(ruleset_id, str) or ruleset_id not in SUPPORTED_RULESETS:
            problems.append(Problem("ruleset_id", 'must be "classic"'))
        problems.extend(_ruleset_config_problems(ruleset_config))
        if problems:
            raise ValidationFailed(problems)
        assert isinstance(max_players, int) and isinstance(ruleset_id, str)
        # A deep copy through JSON: later changes to the caller's dict must not
        # reach a room that is already stored.
        config = json.loads(compact_json(ruleset_config))
        return cls(Visibility.PRIVATE, max_players, ruleset_id, config)


def _ruleset_config_problems(config: object) -> list[Problem]:
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        return [Problem("ruleset_config", "must be a JSON object")]
    if not _is_json(config):
        return [
            Problem(
                "ruleset_config",
                f"must hold only JSON values, nested at most {MAX_JSON_DEPTH} deep",
            )
        ]
    size = len(compact_json(config).encode())
    if size > MAX_RULESET_CONFIG_BYTES:
        return [
            Problem(
                "ruleset_config",
                f"must be at most {MAX_RULESET_CONFIG_BYTES} bytes as compact JSON",
            )
        ]
    return []


def _is_json(value: object, depth: int = 0) -> bool:
    """Strictly JSON: ``json.dumps`` would quietly turn tuples into lists and int keys into str."""
    if depth > MAX_JSON_DEPTH:
        # Deep enough to be abuse, and recursion beyond it could exhaust the stack.
        return False
    if isinstance(value, str):
        # PostgreSQL's jsonb cannot hold U+0000; refuse it here rather than fail at insert.
        return "\x00" not in value
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and _is_json(k) and _is_json(v, depth + 1) for k, v in value.items()
        )
    return False


@dataclass(frozen=True, slots=True)
class Seat:
    index: int
    status: SeatStatus
    user_id: UserId | None
    is_host: bool
    ready: Readiness

    @classmethod
    def host(cls, index: int, user_id: UserId) -> Seat:
        return cls(index, SeatStatus.OCCUPIED, user_id, True, Readiness.NOT_READY)

    @classmethod
    def empty(cls, index: int) -> Seat:
        return cls(index, SeatStatus.EMPTY, None, False, Readiness.NOT_READY)


@dataclass(frozen=True, slots=True)
class Room:
    room_id: RoomId
    owner_user_id: UserId
    code: RoomCode
    settings: RoomSettings
    status: RoomStatus
    version: int
    seats: tuple[Seat, ...]

    HOST_SEAT_INDEX = 0

    @classmethod
    def open(
        cls, *, room_id: RoomId, owner: UserId, code: RoomCode, settings: RoomSettings
    ) -> Room:
        """A new room: open, version 0, the owner hosting seat 0, seats 1-3 empty."""
        seats = (
            Seat.host(cls.HOST_SEAT_INDEX, owner),
            *(Seat.empty(i) for i in range(1, SEAT_COUNT)),
        )
        return cls(room_id, owner, code, settings, RoomStatus.OPEN, 0, seats)

    def with_code(self, code: RoomCode) -> Room:
        """The same new room under another join code (after a collision)."""
        return Room.open(
            room_id=self.room_id, owner=self.owner_user_id, code=code, settings=self.settings
        )


@dataclass(frozen=True, slots=True)
class CreateRoomOk:
    """The answer to a successful create; stored for replays, so it must round-trip."""

    room_id: RoomId
    code: RoomCode
    seat_index: int = Room.HOST_SEAT_INDEX
    is_host: bool = True

    def to_payload(self) -> dict[str, object]:
        return {
            "room_id": str(self.room_id),
            "code": str(self.code),
            "seat_index": self.seat_index,
            "is_host": self.is_host,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, object]) -> CreateRoomOk:
        seat_index, is_host = payload["seat_index"], payload["is_host"]
        assert isinstance(seat_index, int) and isinstance(is_host, bool)
        return cls(
            RoomId(uuid.UUID(str(payload["room_id"]))),
            RoomCode(str(payload["code"])),
            seat_index,
            is_host,
        )
