"""IdempotencyStore over ``ws_idempotency``: the row lock is the "in progress" signal.

A claim inserts the key as ``in_progress`` and so holds its row lock until the
Unit of Work ends. A concurrent claim of the same key waits on that lock (up to
``lock_timeout``), then sees the committed outcome: replay when the holder
completed, a fresh claim when it rolled back, ``RequestInProgress`` when the
wait ran out. A rolled-back claim leaves no row, so a failed request can run
again. The schema has no column for the payload's fingerprint, so it is kept
inside ``response_payload`` (``{"fingerprint": ..., "result": ...}``); only
``result`` is ever given back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncpg import exceptions as pg

from rooms_adapters.postgres.errors import translated
from rooms_domain.errors import IdempotencyKeyReused, RequestInProgress, UnknownUser
from rooms_domain.model import CreateRoomOk, RequestId, UserId
from rooms_domain.ports import Claim, Completed, Fresh

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Connection

# The claim also reads the claimant's display name, which the create needs
# next: one round trip instead of two (see ``ClaimState``). The name is read
# in the statement's snapshot, the same transaction the create runs in.
_CLAIM = """
WITH claim AS (
    INSERT INTO ws_idempotency (user_id, request_id, status, response_payload)
    VALUES ($1, $2, 'in_progress', $3)
    ON CONFLICT (user_id, request_id) DO NOTHING
    RETURNING true
)
SELECT EXISTS (SELECT FROM claim),
       (SELECT display_name FROM users WHERE user_id = $1)
"""
_READ = """
SELECT status::text, response_payload FROM ws_idempotency
WHERE user_id = $1 AND request_id = $2
"""
# 'failed' is in the story's enum but never written by this service: treat
# such a row as a request that may run again.
_RECLAIM_FAILED = """
UPDATE ws_idempotency SET status = 'in_progress', response_payload = $3
WHERE user_id = $1 AND request_id = $2 AND status = 'failed'
RETURNING true
"""
_COMPLETE = """
UPDATE ws_idempotency SET status = 'completed', response_payload = $3
WHERE user_id = $1 AND request_id = $2 AND status = 'in_progress'
RETURNING true
"""
# A key this Unit of Work claimed and already completed along with its room
# (see ``ClaimState``), completed again with another answer.
_RECOMPLETE = """
UPDATE ws_idempotency SET status = 'completed', response_payload = $3
WHERE user_id = $1 AND request_id = $2 AND status IN ('in_progress', 'completed')
RETURNING true
"""


@dataclass(slots=True)
class ClaimState:
    """What this Unit of Work's claim left for its sibling stores, to save round trips.

    - ``display_name``: the claim statement reads the claimant's name too, so
      ``UserDirectory.display_name`` of that user needs no statement.
    - ``pending``: the key held (``in_progress``) and not yet completed. The
      room repository completes it in the statement that inserts the room
      (status ``completed``, response = that room), and records it in
      ``completed``; ``complete()`` with that same answer then has nothing
      left to write. The row still goes ``in_progress`` (claim), then
      ``completed``, inside the one transaction, and only the commit makes
      either visible.
    """

    named_user: UserId | None = None
    display_name: str | None = None
    pending: tuple[UserId, RequestId, str] | None = None
    completed: tuple[UserId, RequestId, str, CreateRoomOk] | None = None


def response_payload(fingerprint: str, result: CreateRoomOk) -> dict[str, object]:
    """The stored ``response_payload`` of a completed key."""
    return {"fingerprint": fingerprint, "result": result.to_payload()}


class PostgresIdempotencyStore:
    def __init__(self, conn: Connection, state: ClaimState | None = None) -> None:
        self._conn = conn
        self._state = state if state is not None else ClaimState()

    async def claim(self, user_id: UserId, request_id: RequestId, fingerprint: str) -> Claim:
        with translated(self._conn):
            try:
                row = await self._conn.fetchrow(
                    _CLAIM, user_id, request_id, {"fingerprint": fingerprint}
                )
            except pg.LockNotAvailableError as exc:
                raise RequestInProgress(f"request {request_id} is still being processed") from exc
            except pg.ForeignKeyViolationError as exc:
                raise UnknownUser(f"no user {user_id}") from exc
            if row is not None and row[0]:
                state = self._state
                state.named_user, state.display_name = user_id, row[1]
                state.pending = (user_id, request_id, fingerprint)
                return Fresh()
            return await self._settled(user_id, request_id, fingerprint)

    async def _settled(self, user_id: UserId, request_id: RequestId, fingerprint: str) -> Claim:
        """The outcome of a key some other Unit of Work claimed and has since finished."""
        row = await self._conn.fetchrow(_READ, user_id, request_id)
        if row is None or row["status"] == "in_progress":
            # Gone between two statements, or committed unfinished by some other
            # writer: either way, nothing to replay yet.
            raise RequestInProgress(f"request {request_id} is still being processed")
        payload = row["response_payload"]
        if row["status"] == "failed":
            if await self._conn.fetchval(
                _RECLAIM_FAILED, user_id, request_id, {"fingerprint": fingerprint}
            ):
                self._state.pending = (user_id, request_id, fingerprint)
                return Fresh()
            raise RequestInProgress(f"request {request_id} is still being processed")
        if not isinstance(payload, dict) or payload.get("fingerprint") != fingerprint:
            raise IdempotencyKeyReused(f"request {request_id} was used for another payload")
        return Completed(CreateRoomOk.from_payload(payload["result"]))

    async def complete(
        self, user_id: UserId, request_id: RequestId, fingerprint: str, result: CreateRoomOk
    ) -> None:
        state = self._state
        folded = state.completed
        if folded is not None and folded[:3] == (user_id, request_id, fingerprint):
            state.completed = None
            if folded[3] == result:
                return  # written with the room, in this transaction
            statement = _RECOMPLETE
        else:
            statement = _COMPLETE
        with translated(self._conn):
            done = await self._conn.fetchval(
                statement, user_id, request_id, response_payload(fingerprint, result)
            )
        if not done:
            raise RuntimeError("complete() of a key this Unit of Work did not claim")
        state.pending = None
