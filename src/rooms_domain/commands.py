"""Commands: what a caller asks for, before any rule is applied."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from rooms_domain.model import RequestId, UserId, Visibility, compact_json
from rooms_domain.replies import RequestKey


@dataclass(frozen=True, slots=True)
class CreateRoomCommand:
    """Create a private room hosted by ``user_id``.

    Field values are untrusted (they may come straight off the wire), so their
    types are as loose as a decoded JSON document; the model checks them.
    """

    user_id: UserId
    request_id: RequestId
    ruleset_id: object
    visibility: object = Visibility.PRIVATE.value
    max_players: object = 4
    ruleset_config: object = field(default_factory=dict)

    OPERATION = "create_room"

    @property
    def key(self) -> RequestKey:
        return RequestKey(self.user_id, self.request_id)

    def fingerprint(self) -> str:
        """Identifies the payload, so a request id reused for another payload is caught.

        Defaults are filled in before hashing: omitting a field and sending its
        default are the same request.
        """
        fields = {
            "visibility": self.visibility,
            "max_players": self.max_players,
            "ruleset_id": self.ruleset_id,
            "ruleset_config": self.ruleset_config,
        }
        canonical = compact_json({"operation": self.OPERATION, "fields": fields})
        return hashlib.sha256(canonical.encode()).hexdigest()
