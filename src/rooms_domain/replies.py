"""What the idempotency store keeps per request: its key, and the reply it got.

Every request is idempotent per (user, request id). The first run stores its
reply; a repeat with the same payload gets that reply back, whatever changed
since. A reply is a success (its payload) or a refusal (the error a valid
request got from the room's state, raised again on every repeat).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from rooms_domain.errors import Refusal
from rooms_domain.model import RequestId, UserId


class RequestKey(NamedTuple):
    """One request as the idempotency store knows it."""

    user_id: UserId
    request_id: RequestId


class ReplyKind(StrEnum):
    SUCCESS = "success"  # ws_idempotency status 'completed'
    REFUSAL = "refusal"  # ws_idempotency status 'failed'


@dataclass(frozen=True, slots=True)
class StoredReply:
    """A request's reply as stored for repeats; ``payload`` is JSON."""

    kind: ReplyKind
    payload: dict[str, Any]

    @classmethod
    def success(cls, payload: dict[str, Any]) -> StoredReply:
        return cls(ReplyKind.SUCCESS, payload)

    @classmethod
    def refusal(cls, error: Refusal) -> StoredReply:
        return cls(ReplyKind.REFUSAL, error.to_payload())

    def replayed(self) -> dict[str, Any]:
        """The success payload, as the first run answered; a refusal is raised again."""
        if self.kind is ReplyKind.REFUSAL:
            raise Refusal.from_payload(self.payload)
        return self.payload
