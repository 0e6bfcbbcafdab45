"""SweepStore over PostgreSQL: one session-level advisory lock per round, one statement per batch.

The round holds ``pg_try_advisory_lock`` on one pooled connection for its
whole length, and each batch is its own short transaction on that connection
(autocommit). Session-level rather than ``pg_try_advisory_xact_lock``: a
transaction-level lock would make the round one long transaction, holding
every row it deleted locked until the end and losing all of it on a failure;
here each batch commits as it goes and the round stays exclusive. The lock
is released at the end of the round, and by PostgreSQL if the connection
dies (a SIGKILLed instance never leaves it held); asyncpg's reset of a
connection going back to the pool unlocks all too. It needs a session: not
behind a pgbouncer in transaction mode.

Batches walk a table in primary-key order from a cursor, ``LIMIT scan``:
each examines at most ``scan`` rows whatever the table holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from itertools import groupby
from typing import TYPE_CHECKING

from rooms_adapters.postgres.errors import translated
from rooms_adapters.postgres.idempotency import FINISHED_AT_MS
from rooms_adapters.postgres.pool import PoolSettings
from rooms_adapters.postgres.rooms import room_and_names
from rooms_domain.housekeeping import KeySlice, LiveRoom, RoomSlice, VersionSlice
from rooms_domain.model import RequestId, RoomId, RoomStatus, UserId
from rooms_domain.replies import RequestKey

if TYPE_CHECKING:
    from asyncpg import Record

    from rooms_adapters.postgres.pool import Pool, PooledConnection

# Any fixed 64-bit number, the same for every instance on the database:
# "rooms sweep" in ASCII, truncated.
SWEEP_LOCK_KEY = 0x726F6F6D73_737765
# Below every uuid4 (version bits set): "from the first row".
_FIRST = uuid.UUID(int=0)

# The next rooms in key order: the primary key's index, and each row's
# status and version (no index covers them: one on version would cost every
# lobby change its HOT update, to save the sweep a heap read).
_SLICE = """
SELECT room_id, status = 'closed' AS closed, version FROM rooms
WHERE room_id > $1 ORDER BY room_id LIMIT $2
"""
# A closed room a request has locked (a join by its code, say) is skipped, not
# waited for: the next pass takes it.
_DELETE_CLOSED = """
DELETE FROM rooms WHERE room_id IN (
    SELECT room_id FROM rooms WHERE room_id = ANY($1::uuid[]) AND status = 'closed'
    FOR UPDATE SKIP LOCKED)
RETURNING room_id
"""
_LOAD_LIVE = """
SELECT r.room_id, r.owner_user_id, r.code, r.visibility::text, r.status::text, r.max_players,
       r.ruleset_id, r.ruleset_config, r.version,
       s.seat_index, s.status::text AS seat_status, s.user_id, s.is_host, s.ready::text,
       u.display_name
FROM rooms r LEFT JOIN room_seats s USING (room_id) LEFT JOIN users u ON u.user_id = s.user_id
WHERE r.room_id = ANY($1::uuid[]) AND r.status <> 'closed'
ORDER BY r.room_id, s.seat_index
"""
# One statement per batch. The slice is read without locks (a batch with
# nothing to do writes nothing); of it, the finished rows past their time and
# the finished rows with no time are locked, skipping any row a transaction
# holds (its request runs: never waited for, never touched), and re-checked
# on their current version. The first are deleted, the others given the
# current time. A claim that later inserts a deleted key is a new request.
_PURGE_FINISHED = f"""
WITH slice AS (
    SELECT user_id, request_id FROM ws_idempotency
    WHERE (user_id, request_id) > ($1, $2)
    ORDER BY user_id, request_id LIMIT $3
), due AS (
    SELECT w.user_id, w.request_id, w.response_payload ? 'finished_at_ms' AS timed
    FROM ws_idempotency w JOIN slice s USING (user_id, request_id)
    WHERE w.status <> 'in_progress'
      AND (NOT coalesce(w.response_payload ? 'finished_at_ms', false)
           OR (w.response_payload ->> 'finished_at_ms')::bigint <= {FINISHED_AT_MS} - $4)
    FOR UPDATE OF w SKIP LOCKED
), old AS (
    DELETE FROM ws_idempotency w USING due d
    WHERE w.user_id = d.user_id AND w.request_id = d.request_id AND d.timed
    RETURNING 1
), stamped AS (
    UPDATE ws_idempotency w
    SET response_payload = coalesce(w.response_payload, '{{}}'::jsonb)
                           || jsonb_build_object('finished_at_ms', {FINISHED_AT_MS})
    FROM due d
    WHERE w.user_id = d.user_id AND w.request_id = d.request_id AND NOT coalesce(d.timed, false)
    RETURNING 1
), last AS (
    SELECT user_id, request_id FROM slice ORDER BY user_id DESC, request_id DESC LIMIT 1
)
SELECT (SELECT count(*) FROM slice) AS scanned, (SELECT count(*) FROM old) AS deleted,
       last.user_id, last.request_id
FROM (SELECT 1) AS one LEFT JOIN last ON true
"""
_COUNT = "SELECT status::text, count(*) FROM rooms GROUP BY status"


class PostgresSweepRound:
    def __init__(self, conn: PooledConnection) -> None:
        self._conn = conn

    async def _slice(self, after: RoomId | None, scan: int) -> tuple[list[Record], RoomId | None]:
        """The next ``scan`` rooms (id, closed, version), and the cursor after them."""
        with translated(self._conn):
            rows = await self._conn.fetch(_SLICE, after or _FIRST, scan)
        return rows, (rows[-1]["room_id"] if len(rows) == scan else None)

    async def closed_rooms(self, after: RoomId | None, scan: int) -> RoomSlice:
        rows, next_after = await self._slice(after, scan)
        return RoomSlice(tuple(row[0] for row in rows if row[1]), next_after)

    async def delete_closed(self, room_ids: Sequence[RoomId]) -> list[RoomId]:
        with translated(self._conn):
            rows = await self._conn.fetch(_DELETE_CLOSED, list(room_ids))
        return [row[0] for row in rows]

    async def live_versions(self, after: RoomId | None, scan: int) -> VersionSlice:
        rows, next_after = await self._slice(after, scan)
        return VersionSlice(tuple((row[0], row[2]) for row in rows if not row[1]), next_after)

    async def load_live(self, room_ids: Sequence[RoomId]) -> list[LiveRoom]:
        with translated(self._conn):
            loaded = await self._conn.fetch(_LOAD_LIVE, list(room_ids))
        return [
            LiveRoom(*room_and_names(list(group)))
            for _, group in groupby(loaded, key=lambda row: row["room_id"])
        ]

    async def purge_finished(
        self, after: RequestKey | None, scan: int, retention_ms: int
    ) -> KeySlice:
        user, request = (after.user_id, after.request_id) if after else (_FIRST, _FIRST)
        with translated(self._conn):
            row = await self._conn.fetchrow(_PURGE_FINISHED, user, request, scan, retention_ms)
        assert row is not None  # one row, always
        last = None
        if row["scanned"] == scan and row["user_id"] is not None:
            last = RequestKey(UserId(row["user_id"]), RequestId(row["request_id"]))
        return KeySlice(int(row["deleted"]), last)

    async def count_by_status(self) -> dict[str, int]:
        with translated(self._conn):
            rows = await self._conn.fetch(_COUNT)
        counts = {status.value: 0 for status in RoomStatus}
        counts.update((row[0], int(row[1])) for row in rows)
        return counts


class PostgresSweepStore:
    """Implements ``rooms_domain.housekeeping.SweepStore`` on the pool."""

    def __init__(self, pool: Pool, settings: PoolSettings) -> None:
        self._pool = pool
        self._settings = settings

    @asynccontextmanager
    async def round(self) -> AsyncIterator[PostgresSweepRound | None]:
        with translated():
            async with asyncio.timeout(self._settings.acquire_timeout_s):
                conn = await self._pool.acquire()
        try:
            with translated(conn):
                held = await conn.fetchval("SELECT pg_try_advisory_lock($1)", SWEEP_LOCK_KEY)
            if not held:
                yield None
                return
            try:
                yield PostgresSweepRound(conn)
            finally:
                # A failed unlock is settled by the release below (or the
                # connection's end): it must not hide what ended the round.
                with contextlib.suppress(Exception):
                    await conn.execute("SELECT pg_advisory_unlock($1)", SWEEP_LOCK_KEY)
        finally:
            # On release asyncpg resets the session (pg_advisory_unlock_all
            # among it): a lock the unlock above missed goes there.
            await self._pool.release(conn, timeout=self._settings.command_timeout_s)
