"""IdempotencyStore over ``ws_idempotency``: the row lock is the "in progress" signal.

A claim inserts the key as ``in_progress`` and so holds its row lock until the
Unit of Work ends. A concurrent claim of the same key waits on that lock (up to
``lock_timeout``), then sees the committed outcome: a replay when the holder
finished it, a fresh claim when it rolled back, ``RequestInProgress`` when the
wait ran out. A rolled-back claim leaves no row, so a failed request can run
again.

The schema has no column for the payload's fingerprint, so it is kept inside
``response_payload``: the claim writes ``{"fingerprint": ...}`` and finishing
the key adds the reply, ``"result"`` for a success (status ``completed``) or
``"refusal"`` for a refusal (status ``failed``), and ``"finished_at_ms"``
(for the sweep's retention). Only the reply is ever given back. The
statement that finishes a key lives here; the room repository embeds it in
its own (see ``rooms.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from asyncpg import exceptions as pg

from rooms_adapters.postgres.errors import translated
from rooms_domain.errors import IdempotencyKeyReused, RequestInProgress, UnknownUser
from rooms_domain.ports import Claim, Completion, Fresh, Replay
from rooms_domain.replies import ReplyKind, RequestKey, StoredReply

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Connection

# The claim also reads the claimant's display name, which every request needs
# next (the live view, the events): one round trip instead of two. The name
# is read in the statement's snapshot, the transaction the request runs in.
# The claim as a CTE (parameters $1-$3: user, request id, fingerprint), so
# that the room repository can lock a room in the same statement.
CLAIM_CTE = """
WITH claim AS (
    INSERT INTO ws_idempotency (user_id, request_id, status, response_payload)
    VALUES ($1, $2, 'in_progress', $3)
    ON CONFLICT (user_id, request_id) DO NOTHING
    RETURNING true
)"""
_CLAIM = (
    CLAIM_CTE
    + """
SELECT EXISTS (SELECT FROM claim),
       (SELECT display_name FROM users WHERE user_id = $1)
"""
)
_READ = """
SELECT status::text, response_payload FROM ws_idempotency
WHERE user_id = $1 AND request_id = $2
"""
# A 'failed' row without a refusal of ours (written by some other tool): a
# request that may run again.
_RECLAIM_FAILED = """
UPDATE ws_idempotency SET status = 'in_progress', response_payload = $3
WHERE user_id = $1 AND request_id = $2 AND status = 'failed'
RETURNING (SELECT display_name FROM users WHERE user_id = $1)
"""


# The database's clock, the one every instance shares, in ms since the epoch.
FINISHED_AT_MS = "(extract(epoch FROM statement_timestamp()) * 1000)::bigint"


def complete_sql(first: int, *, only_if: str = "") -> str:
    """The UPDATE that finishes a held key, as the body of a CTE.

    The key goes from in_progress to completed (a success) or failed (a
    refusal), its reply added next to the claim's fingerprint, with
    ``finished_at_ms``: the database's clock, which the sweep's retention
    reads (``housekeeping.py``). A CTE, so that
    the room repository can finish a key in the statement that writes the
    room. Its four parameters, numbered from ``first``: user, request id,
    status, ``{"result" | "refusal": reply}`` (see :func:`completion_args`).
    """
    user, request, status, reply = (f"${n}" for n in range(first, first + 4))
    return f"""
    UPDATE ws_idempotency
    SET status = {status}::text::idempotency_status,
        response_payload = response_payload || {reply}::jsonb
            || jsonb_build_object('finished_at_ms', {FINISHED_AT_MS})
    WHERE user_id = {user} AND request_id = {request} AND status = 'in_progress' {only_if}
    RETURNING true
"""


_COMPLETE = f"WITH done AS ({complete_sql(1)}) SELECT EXISTS (SELECT FROM done)"

_STORED_AS: dict[ReplyKind, tuple[str, str]] = {
    ReplyKind.SUCCESS: ("completed", "result"),
    ReplyKind.REFUSAL: ("failed", "refusal"),
}


def completion_args(completion: Completion) -> tuple[Any, ...]:
    """The parameters of :func:`complete_sql` for ``completion``, in order."""
    status, field = _STORED_AS[completion.reply.kind]
    key = completion.key
    return key.user_id, key.request_id, status, {field: completion.reply.payload}


def _stored_reply(payload: object, fingerprint: str) -> StoredReply | None:
    """The reply a finished row holds for this fingerprint, if it holds one of ours."""
    if not isinstance(payload, dict):
        return None
    for kind, (_, field) in _STORED_AS.items():
        if field in payload:
            if payload.get("fingerprint") != fingerprint:
                raise IdempotencyKeyReused("this request id was used for another payload")
            return StoredReply(kind, payload[field])
    return None


class PostgresIdempotencyStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def claim(self, key: RequestKey, fingerprint: str) -> Claim:
        with translated(self._conn), claim_errors(key, locks_only_the_key=True):
            row = await self._conn.fetchrow(_CLAIM, *claim_args(key, fingerprint))
        if row is not None and row[0]:
            return fresh(key, row[1])
        with translated(self._conn):
            return await settled(self._conn, key, fingerprint)

    async def complete(self, completion: Completion) -> None:
        with translated(self._conn):
            done = await self._conn.fetchval(_COMPLETE, *completion_args(completion))
        if not done:
            raise RuntimeError("completion of a key this Unit of Work does not hold")


def claim_args(key: RequestKey, fingerprint: str) -> tuple[Any, ...]:
    """The parameters $1-$3 of :data:`CLAIM_CTE`."""
    return key.user_id, key.request_id, {"fingerprint": fingerprint}


@contextlib.contextmanager
def claim_errors(key: RequestKey, *, locks_only_the_key: bool = False) -> Iterator[None]:
    """The domain's errors for a statement holding :data:`CLAIM_CTE`.

    A lock wait that ran out on the key is a duplicate still running. In a
    statement that also locks a room, the server's CONTEXT line names the
    relation it waited on (its name is never translated); a wait on the room
    stays the driver's error, which ``translated`` reports as a store too
    slow to answer.
    """
    try:
        yield
    except pg.LockNotAvailableError as exc:
        context = exc.as_dict().get("context") or ""
        if locks_only_the_key or '"ws_idempotency' in context:
            raise RequestInProgress(f"request {key.request_id} is still being processed") from exc
        raise
    except pg.ForeignKeyViolationError as exc:
        raise UnknownUser(f"no user {key.user_id}") from exc


async def settled(conn: Connection, key: RequestKey, fingerprint: str) -> Claim:
    """The outcome of a key some other Unit of Work claimed and has since finished."""
    user_id, request_id = key
    row = await conn.fetchrow(_READ, user_id, request_id)
    if row is None or row["status"] == "in_progress":
        # Gone between two statements, or committed unfinished by some other
        # writer: either way, nothing to replay yet.
        raise RequestInProgress(f"request {request_id} is still being processed")
    reply = _stored_reply(row["response_payload"], fingerprint)
    if reply is not None:
        return Replay(reply)
    if row["status"] == "failed":
        reclaimed = await conn.fetchrow(
            _RECLAIM_FAILED, user_id, request_id, {"fingerprint": fingerprint}
        )
        if reclaimed is not None:
            return fresh(key, reclaimed[0])
        raise RequestInProgress(f"request {request_id} is still being processed")
    # Completed without a reply of ours: not something this payload may reuse.
    raise IdempotencyKeyReused(f"request {request_id} was used for another payload")


def fresh(key: RequestKey, display_name: str | None) -> Fresh:
    if display_name is None:  # deleted since the handshake, in the same snapshot
        raise UnknownUser(f"no user {key.user_id}")
    return Fresh(display_name)
