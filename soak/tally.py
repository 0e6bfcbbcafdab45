"""What the clients saw, added up across all of them (one event loop: no locks needed)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    requests: int = 0  # frames sent
    replies: Counter[str] = field(default_factory=Counter)  # by type, or by error code
    closes: Counter[int] = field(default_factory=Counter)  # connections the server closed
    reconnects: int = 0
    # request id -> the payload of its first create_room_ok (room_id, code, ...)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    replays: int = 0  # create_room_ok for a request id answered before
    replay_mismatches: int = 0  # ... that differed from the first answer
    no_reply: int = 0  # frames that got no reply in time (the client retries them)
    unsettled: int = 0  # creates still without an answer when the run ended

    def ok(self, request_id: str, payload: dict[str, Any]) -> None:
        first = self.answers.get(request_id)
        if first is None:
            self.answers[request_id] = payload
            return
        self.replays += 1
        if first != payload:
            self.replay_mismatches += 1

    @property
    def room_ids(self) -> set[str]:
        return {str(answer["room_id"]) for answer in self.answers.values()}
