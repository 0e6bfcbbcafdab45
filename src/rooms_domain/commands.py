"""Commands: what a caller asks for, every rule of the request already applied."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Final, Self

from rooms_domain.codes import normalise
from rooms_domain.model import (
    CODE_LENGTH,
    RequestId,
    RoomCode,
    RoomId,
    RoomSettings,
    UserId,
    compact_json,
)
from rooms_domain.payloads import Field, read_payload
from rooms_domain.replies import RequestKey


def fingerprint(operation: str, fields: Mapping[str, object]) -> str:
    """Identifies a request's payload, so a request id reused for another payload is caught.

    Taken from the checked values, defaults filled in and codes normalised:
    two payloads that ask for the same thing are the same request.
    """
    canonical = compact_json({"operation": operation, "fields": dict(fields)})
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CreateRoomCommand:
    """Create a private room with ``settings``, hosted by ``user_id``."""

    user_id: UserId
    request_id: RequestId
    settings: RoomSettings

    OPERATION: ClassVar[str] = "create_room"

    @classmethod
    def from_payload(
        cls, user_id: UserId, request_id: RequestId, payload: object
    ) -> CreateRoomCommand:
        """The command an untrusted payload (decoded JSON, or ``MISSING``) asks for.

        Raises ValidationFailed naming every problem; the use case then trusts
        the command and touches no store for a payload that breaks a rule.
        """
        return cls(user_id, request_id, RoomSettings.checked(payload, request=cls.OPERATION))

    @property
    def key(self) -> RequestKey:
        return RequestKey(self.user_id, self.request_id)

    def fingerprint(self) -> str:
        s = self.settings
        fields = {
            "visibility": s.visibility.value,
            "max_players": s.max_players,
            "ruleset_id": s.ruleset_id,
            "ruleset_config": s.ruleset_config,
        }
        return fingerprint(self.OPERATION, fields)


# --- the lobby's requests (docs/protocol.md): one rule per field -------------------------

_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _room_id_problem(value: object) -> str | None:
    # The one spelling of a UUID: uuid.UUID() would also take braces, URNs, no hyphens.
    if isinstance(value, str) and _UUID_TEXT.fullmatch(value):
        return None
    return "must be a room id (a UUID string)"


def _code_problem(value: object) -> str | None:
    if isinstance(value, str):
        try:
            normalise(value)
        except ValueError:
            pass
        else:
            return None
    return f"must be a room code: {CODE_LENGTH} letters and digits"


def _ready_problem(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _seat_index_problem(value: object) -> str | None:
    # Only the type here: the range depends on the room, judged after its state.
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    return "must be an integer"


_ROOM_ID: Final = Field(_room_id_problem)


def _json_value(value: object) -> object:
    """A checked field as JSON: ids and codes as plain strings, the rest as is."""
    return str(value) if isinstance(value, uuid.UUID | str) else value


@dataclass(frozen=True, slots=True)
class LobbyCommand:
    """A lobby request of ``user_id``; subclasses name their fields and rules."""

    user_id: UserId
    request_id: RequestId

    OPERATION: ClassVar[str]
    FIELDS: ClassVar[Mapping[str, Field]]

    @classmethod
    def from_payload(cls, user_id: UserId, request_id: RequestId, payload: object) -> Self:
        """The command an untrusted payload asks for; ValidationFailed names every problem."""
        values = read_payload(cls.OPERATION, payload, cls.FIELDS)
        return cls(user_id, request_id, *cls._typed(values))

    @classmethod
    def _typed(cls, values: dict[str, object]) -> tuple[object, ...]:
        """The command's own fields from the checked payload values, in order."""
        raise NotImplementedError

    @property
    def key(self) -> RequestKey:
        return RequestKey(self.user_id, self.request_id)

    def fields(self) -> dict[str, object]:
        """The request's checked fields as JSON values (what the fingerprint covers)."""
        return {name: _json_value(getattr(self, name)) for name in self.FIELDS}

    def fingerprint(self) -> str:
        return fingerprint(self.OPERATION, self.fields())


@dataclass(frozen=True, slots=True)
class JoinRoomCommand(LobbyCommand):
    code: RoomCode

    OPERATION: ClassVar[str] = "join_room"
    FIELDS: ClassVar[Mapping[str, Field]] = MappingProxyType({"code": Field(_code_problem)})

    @classmethod
    def _typed(cls, values: dict[str, object]) -> tuple[object, ...]:
        return (normalise(str(values["code"])),)


@dataclass(frozen=True, slots=True)
class RoomCommand(LobbyCommand):
    """A request about one room, addressed by its id."""

    room_id: RoomId

    FIELDS: ClassVar[Mapping[str, Field]] = MappingProxyType({"room_id": _ROOM_ID})

    @classmethod
    def _typed(cls, values: dict[str, object]) -> tuple[object, ...]:
        return (RoomId(uuid.UUID(str(values["room_id"]))),)


@dataclass(frozen=True, slots=True)
class LeaveRoomCommand(RoomCommand):
    OPERATION: ClassVar[str] = "leave_room"


@dataclass(frozen=True, slots=True)
class StartGameCommand(RoomCommand):
    OPERATION: ClassVar[str] = "start_game"


@dataclass(frozen=True, slots=True)
class GetRoomCommand(RoomCommand):
    """A read: it has a request id for the reply, and no idempotency record."""

    OPERATION: ClassVar[str] = "get_room"


@dataclass(frozen=True, slots=True)
class SetReadyCommand(RoomCommand):
    ready: bool

    OPERATION: ClassVar[str] = "set_ready"
    FIELDS: ClassVar[Mapping[str, Field]] = MappingProxyType(
        {"room_id": _ROOM_ID, "ready": Field(_ready_problem)}
    )

    @classmethod
    def _typed(cls, values: dict[str, object]) -> tuple[object, ...]:
        return (*RoomCommand._typed(values), values["ready"] is True)


@dataclass(frozen=True, slots=True)
class KickPlayerCommand(RoomCommand):
    seat_index: int

    OPERATION: ClassVar[str] = "kick_player"
    FIELDS: ClassVar[Mapping[str, Field]] = MappingProxyType(
        {"room_id": _ROOM_ID, "seat_index": Field(_seat_index_problem)}
    )

    @classmethod
    def _typed(cls, values: dict[str, object]) -> tuple[object, ...]:
        seat_index = values["seat_index"]
        assert isinstance(seat_index, int)
        return (*RoomCommand._typed(values), seat_index)
