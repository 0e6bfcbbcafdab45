"""The room aggregate and its value objects; the rules of story 1.1 live here."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, NewType

from rooms_domain.payloads import Field, read_payload

if TYPE_CHECKING:
    from rooms_domain.lobby_rules import Change

UserId = NewType("UserId", uuid.UUID)
RoomId = NewType("RoomId", uuid.UUID)
RequestId = NewType("RequestId", uuid.UUID)

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CODE_LENGTH = 6
SEAT_COUNT = 4
MIN_PLAYERS, MAX_PLAYERS = 2, 4
DEFAULT_MAX_PLAYERS = MAX_PLAYERS
MAX_RULESET_CONFIG_BYTES = 4096
MAX_JSON_DEPTH = 64


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class Ruleset(StrEnum):
    CLASSIC = "classic"


# Only private rooms and the classic rules, for now.
DEFAULT_VISIBILITY: Final = Visibility.PRIVATE
_VISIBILITIES = frozenset({DEFAULT_VISIBILITY.value})
SUPPORTED_RULESETS = frozenset(ruleset.value for ruleset in Ruleset)


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


def _visibility_problem(value: object) -> str | None:
    if isinstance(value, str) and value in _VISIBILITIES:
        return None
    return f"must be {_one_of(_VISIBILITIES)}"


def _max_players_problem(value: object) -> str | None:
    # bool is an int subclass in Python, but `true` is not a player count.
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and MIN_PLAYERS <= value <= MAX_PLAYERS
    ):
        return None
    return f"must be an integer from {MIN_PLAYERS} to {MAX_PLAYERS}"


def _ruleset_id_problem(value: object) -> str | None:
    if isinstance(value, str) and value in SUPPORTED_RULESETS:
        return None
    return f"must be {_one_of(SUPPORTED_RULESETS)}"


def _ruleset_config_problem(config: object) -> str | None:
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        return "must be a JSON object"
    if not _is_json(config):
        return f"must hold only JSON values, nested at most {MAX_JSON_DEPTH} deep"
    if len(compact_json(config).encode()) > MAX_RULESET_CONFIG_BYTES:
        return f"must be at most {MAX_RULESET_CONFIG_BYTES} bytes as compact JSON"
    return None


def _one_of(values: Collection[str]) -> str:
    return " or ".join(f'"{value}"' for value in sorted(values))


# The fields of a room's settings, as a creator sends them: rule and default.
SETTINGS_FIELDS: Final[Mapping[str, Field]] = MappingProxyType(
    {
        "visibility": Field(_visibility_problem, default=DEFAULT_VISIBILITY.value),
        "max_players": Field(_max_players_problem, default=DEFAULT_MAX_PLAYERS),
        "ruleset_id": Field(_ruleset_id_problem),
        # Never changed: checked() copies it, as every config.
        "ruleset_config": Field(_ruleset_config_problem, default={}),
    }
)


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """What the creator chose; only :meth:`checked` builds one from untrusted input."""

    visibility: Visibility
    max_players: int
    ruleset_id: str
    ruleset_config: dict[str, object]

    @classmethod
    def checked(cls, payload: object, *, request: str) -> RoomSettings:
        """The settings a payload asks for, absent fields at their defaults.

        Every rule of :data:`SETTINGS_FIELDS` is applied and every broken one
        reported at once (``ValidationFailed``), unknown fields included.
        """
        values = read_payload(request, payload, SETTINGS_FIELDS)
        max_players, ruleset_id = values["max_players"], values["ruleset_id"]
        assert isinstance(max_players, int) and isinstance(ruleset_id, str)
        # A deep copy through JSON: later changes to the caller's dict must not
        # reach a room that is already stored.
        config = json.loads(compact_json(values["ruleset_config"]))
        return cls(Visibility(str(values["visibility"])), max_players, ruleset_id, config)


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

    # --- the lobby (docs/protocol.md). The rules live in lobby_rules, which imports
    # this module: hence the imports inside the methods.

    @property
    def usable_seats(self) -> tuple[Seat, ...]:
        """The seats below ``max_players``; the others are never used."""
        return self.seats[: self.settings.max_players]

    @property
    def occupied_count(self) -> int:
        return sum(1 for seat in self.seats if seat.status is SeatStatus.OCCUPIED)

    @property
    def host_seat(self) -> int | None:
        """The host's seat index; ``None`` once the room is empty (closed)."""
        return next((seat.index for seat in self.seats if seat.is_host), None)

    def seat_of(self, user: UserId) -> Seat | None:
        return next((seat for seat in self.seats if seat.user_id == user), None)

    def join(self, user: UserId, display_name: str | None = None) -> Change:
        """Take the lowest empty usable seat; a user already seated keeps theirs (no change)."""
        from rooms_domain import lobby_rules

        return lobby_rules.join(self, user, display_name)

    def leave(self, user: UserId) -> Change:
        """Empty the user's seat, in ``open`` or ``in_game``; host succession, closing."""
        from rooms_domain import lobby_rules

        return lobby_rules.leave(self, user)

    def release_held_seat(self, user: UserId) -> Change:
        """A held seat ran out: as :meth:`leave` with reason ``timeout``, only while ``open``."""
        from rooms_domain import lobby_rules

        return lobby_rules.release_held_seat(self, user)

    def set_ready(self, user: UserId, ready: bool) -> Change:
        """Only while ``open``; the value it already has is a success with no change."""
        from rooms_domain import lobby_rules

        return lobby_rules.set_ready(self, user, ready)

    def kick(self, host_user: UserId, seat_index: int) -> Change:
        """The host empties another usable seat (reason ``kicked``), only while ``open``."""
        from rooms_domain import lobby_rules

        return lobby_rules.kick(self, host_user, seat_index)

    def start(self, host_user: UserId) -> Change:
        """The host starts the game: at least 2 occupied seats, every one of them ready."""
        from rooms_domain import lobby_rules

        return lobby_rules.start(self, host_user)


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
