"""Commands: what a caller asks for, every rule of the request already applied."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from rooms_domain.model import RequestId, RoomSettings, UserId, compact_json
from rooms_domain.replies import RequestKey


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
        """Identifies the payload, so a request id reused for another payload is caught.

        Taken from the checked settings, defaults filled in: omitting a field
        and sending its default are the same request.
        """
        s = self.settings
        fields = {
            "visibility": s.visibility.value,
            "max_players": s.max_players,
            "ruleset_id": s.ruleset_id,
            "ruleset_config": s.ruleset_config,
        }
        canonical = compact_json({"operation": self.OPERATION, "fields": fields})
        return hashlib.sha256(canonical.encode()).hexdigest()
