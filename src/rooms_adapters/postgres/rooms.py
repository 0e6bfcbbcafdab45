"""RoomRepository over ``rooms`` and ``room_seats``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from asyncpg import exceptions as pg

from rooms_adapters.postgres.errors import translated
from rooms_adapters.postgres.idempotency import (
    CLAIM_CTE,
    claim_args,
    claim_errors,
    complete_sql,
    completion_args,
    fresh,
    settled,
)
from rooms_domain.errors import UnknownUser
from rooms_domain.model import (
    Readiness,
    Room,
    RoomCode,
    RoomId,
    RoomSettings,
    RoomStatus,
    Seat,
    SeatStatus,
    UserId,
    Visibility,
)
from rooms_domain.ports import Claim, Completion, SeatedRoom
from rooms_domain.replies import RequestKey

if TYPE_CHECKING:
    import asyncpg

    from rooms_adapters.postgres.pool import Connection

# One statement, one round trip: the room and its seats, or nothing at all.
# ON CONFLICT (code) DO NOTHING turns a taken code into "no row" instead of a
# unique violation, which would abort the whole transaction (the idempotency
# claim with it). Against a concurrent insert of the same code that has not
# committed yet, PostgreSQL waits for that transaction, then decides.
# Enums travel as text and the seats as one JSON array: asyncpg knows both
# types already, so a fresh connection spends no round trips introspecting
# enum and array types.
_ROOM_AND_SEATS = """
WITH room AS (
    INSERT INTO rooms (room_id, owner_user_id, code, visibility, status,
                       max_players, ruleset_id, ruleset_config, version)
    VALUES ($1, $2, $3, $4::text::room_visibility, $5::text::room_status,
            $6, $7, $8, $9)
    ON CONFLICT (code) DO NOTHING
    RETURNING room_id
), seats AS (
    INSERT INTO room_seats (room_id, seat_index, status, user_id, is_host, ready)
    SELECT room.room_id, s.seat_index, s.status, s.user_id, s.is_host, s.ready
    FROM room, jsonb_to_recordset($10::jsonb) AS s (
        seat_index smallint, status seat_status, user_id uuid, is_host boolean,
        ready seat_ready)
)"""
_ADD_IF_CODE_FREE = (
    _ROOM_AND_SEATS
    + """
SELECT EXISTS (SELECT FROM room)
"""
)
# The same, and the request's held key finished with its reply if the room
# went in: the ``in_progress`` row its claim inserted becomes ``completed`` in
# this round trip, still inside the transaction (see ``idempotency.py``).
_ADD_IF_CODE_FREE_AND_COMPLETE = (
    _ROOM_AND_SEATS
    + f""", done AS ({complete_sql(11, only_if="AND EXISTS (SELECT FROM room)")})
SELECT EXISTS (SELECT FROM room), EXISTS (SELECT FROM done)
"""
)
_GET = """
SELECT r.owner_user_id, r.code, r.visibility::text, r.status::text, r.max_players,
       r.ruleset_id, r.ruleset_config, r.version,
       s.seat_index, s.status::text AS seat_status, s.user_id, s.is_host, s.ready::text
FROM rooms r LEFT JOIN room_seats s USING (room_id)
WHERE r.room_id = $1
ORDER BY s.seat_index
"""
_CODE_TAKEN = "SELECT EXISTS (SELECT FROM rooms WHERE code = $1)"

# A room with its seats and the seated users' names, in one statement. With
# FOR UPDATE, the room row and its seat rows are locked: a second request on
# the room waits here until the first one ends, and then reads its committed
# seats, because PostgreSQL re-reads every row it locks after such a wait
# (the seats too, hence ``OF r, s``; locking the room alone would hand back
# the seats of the snapshot taken before the wait). Every room has its four
# seat rows, so the join is inner.
_SEATED = """
SELECT r.room_id, r.owner_user_id, r.code, r.visibility::text, r.status::text,
       r.max_players, r.ruleset_id, r.ruleset_config, r.version,
       s.seat_index, s.status::text AS seat_status, s.user_id, s.is_host, s.ready::text,
       u.display_name
FROM rooms r JOIN room_seats s USING (room_id) LEFT JOIN users u ON u.user_id = s.user_id
WHERE {where}
ORDER BY s.seat_index
"""
_LOAD = _SEATED.format(where="r.room_id = $1")
_LOCK = _LOAD + "FOR UPDATE OF r, s\n"
_LOCK_BY_CODE = _SEATED.format(where="r.code = $1") + "FOR UPDATE OF r, s\n"


def _claim_and_lock(where: str) -> str:
    """The key claimed and, if it was free, the room locked and read: one round trip.

    The lock is taken only for a fresh claim (a one-time filter on the
    claim's row): a repeat neither waits for the room nor holds it. One row
    per seat, each with the claim's outcome; one row of NULL room columns
    when the key was not free or there is no such room.
    """
    locked = _SEATED.format(where=f"({where}) AND EXISTS (SELECT FROM claim)")
    return f"""{CLAIM_CTE}, locked AS MATERIALIZED (
{locked}FOR UPDATE OF r, s
)
SELECT c.fresh, c.claimant, locked.*
FROM (SELECT EXISTS (SELECT FROM claim) AS fresh,
             (SELECT display_name FROM users WHERE user_id = $1) AS claimant) AS c
LEFT JOIN locked ON true
ORDER BY locked.seat_index
"""


_CLAIM_AND_LOCK = _claim_and_lock("r.room_id = $4")
_CLAIM_AND_LOCK_BY_CODE = _claim_and_lock("r.code = $4")
# The room's new status and version (only over the version before the
# change: the lock makes that a check, never a wait), the seats that differ,
# and the request's key completed: one statement, one round trip.
_SAVE = f"""
WITH room AS (
    UPDATE rooms SET status = $2::text::room_status, version = $3
    WHERE room_id = $1 AND version = $3 - 1
    RETURNING room_id
), seats AS (
    UPDATE room_seats t
    SET status = s.status, user_id = s.user_id, is_host = s.is_host, ready = s.ready
    FROM room, jsonb_to_recordset($4::jsonb) AS s (
        seat_index smallint, status seat_status, user_id uuid, is_host boolean,
        ready seat_ready)
    WHERE t.room_id = room.room_id AND t.seat_index = s.seat_index
      AND (t.status, t.user_id, t.is_host, t.ready)
          IS DISTINCT FROM (s.status, s.user_id, s.is_host, s.ready)
), done AS ({complete_sql(5, only_if="AND EXISTS (SELECT FROM room)")})
SELECT EXISTS (SELECT FROM room), EXISTS (SELECT FROM done)
"""


# A change no request made (a held seat's release): no key to finish.
_SAVE_ROOM_ONLY = (
    _SAVE.split("), done AS (")[0]
    + """)
SELECT EXISTS (SELECT FROM room), true
"""
)


class PostgresRoomRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add_if_code_free(self, room: Room, completes: Completion | None = None) -> bool:
        settings = room.settings
        args = (
            room.room_id,
            room.owner_user_id,
            str(room.code),
            settings.visibility.value,
            room.status.value,
            settings.max_players,
            settings.ruleset_id,
            settings.ruleset_config,
            room.version,
            [_seat_json(seat) for seat in room.seats],
        )
        with translated(self._conn):
            try:
                if completes is None:
                    return bool(await self._conn.fetchval(_ADD_IF_CODE_FREE, *args))
                row = await self._conn.fetchrow(
                    _ADD_IF_CODE_FREE_AND_COMPLETE, *args, *completion_args(completes)
                )
            except pg.ForeignKeyViolationError as exc:
                raise UnknownUser(f"a user of room {room.room_id} does not exist") from exc
        if row is None or not row[0]:
            return False
        if not row[1]:
            raise RuntimeError("completion of a key this Unit of Work does not hold")
        return True

    async def get(self, room_id: RoomId) -> Room | None:
        with translated(self._conn):
            rows = await self._conn.fetch(_GET, room_id)
        return room_from_rows(room_id, rows) if rows else None

    async def code_taken(self, code: RoomCode) -> bool:
        with translated(self._conn):
            return bool(await self._conn.fetchval(_CODE_TAKEN, str(code)))

    async def lock(self, room_id: RoomId) -> SeatedRoom | None:
        return await self._seated(_LOCK, room_id)

    async def lock_by_code(self, code: RoomCode) -> SeatedRoom | None:
        return await self._seated(_LOCK_BY_CODE, str(code))

    async def load(self, room_id: RoomId) -> SeatedRoom | None:
        return await self._seated(_LOAD, room_id)

    async def _seated(self, sql: str, key: object) -> SeatedRoom | None:
        with translated(self._conn):
            rows = await self._conn.fetch(sql, key)
        return _seated(rows)

    async def claim_and_lock(
        self, key: RequestKey, fingerprint: str, room: RoomId | RoomCode
    ) -> tuple[Claim, SeatedRoom | None]:
        by_code = isinstance(room, RoomCode)
        sql = _CLAIM_AND_LOCK_BY_CODE if by_code else _CLAIM_AND_LOCK
        target: object = str(room) if by_code else room
        with translated(self._conn), claim_errors(key):
            rows = await self._conn.fetch(sql, *claim_args(key, fingerprint), target)
        first = rows[0]
        if first["fresh"]:
            return fresh(key, first["claimant"]), _seated(rows)
        with translated(self._conn):
            return await settled(self._conn, key, fingerprint), None

    async def save(self, after: Room, completes: Completion | None = None) -> None:
        args = (
            after.room_id,
            after.status.value,
            after.version,
            [_seat_json(seat) for seat in after.seats],
        )
        with translated(self._conn):
            try:
                if completes is None:
                    row = await self._conn.fetchrow(_SAVE_ROOM_ONLY, *args)
                else:
                    row = await self._conn.fetchrow(_SAVE, *args, *completion_args(completes))
            except pg.ForeignKeyViolationError as exc:
                raise UnknownUser(f"a user of room {after.room_id} does not exist") from exc
        if row is None or not row[0]:
            raise RuntimeError(f"room {after.room_id} is not at version {after.version - 1}")
        if not row[1]:
            raise RuntimeError("completion of a key this Unit of Work does not hold")


def _seated(rows: Sequence[asyncpg.Record]) -> SeatedRoom | None:
    """The room of rows of :data:`_SEATED` (possibly one row of NULLs: no room)."""
    if not rows or rows[0]["room_id"] is None:
        return None
    return SeatedRoom(*room_and_names(rows))


def room_and_names(rows: Sequence[asyncpg.Record]) -> tuple[Room, dict[UserId, str]]:
    """One room's rows (room, seat and ``display_name`` columns): the room, occupants' names."""
    names = {row["user_id"]: row["display_name"] for row in rows if row["user_id"]}
    return room_from_rows(rows[0]["room_id"], rows), names


def _seat_json(seat: Seat) -> dict[str, object]:
    return {
        "seat_index": seat.index,
        "status": seat.status.value,
        "user_id": None if seat.user_id is None else str(seat.user_id),
        "is_host": seat.is_host,
        "ready": seat.ready.value,
    }


def room_from_rows(room_id: RoomId, rows: Sequence[asyncpg.Record]) -> Room:
    """The domain ``Room`` from one room's joined room/seat rows (shared with housekeeping)."""
    first = rows[0]
    settings = RoomSettings(
        Visibility(first["visibility"]),
        first["max_players"],
        first["ruleset_id"],
        first["ruleset_config"],
    )
    seats = tuple(
        Seat(
            row["seat_index"],
            SeatStatus(row["seat_status"]),
            row["user_id"],
            row["is_host"],
            Readiness(row["ready"]),
        )
        for row in rows
        if row["seat_index"] is not None  # the LEFT JOIN's row of a room without seats
    )
    return Room(
        room_id,
        first["owner_user_id"],
        RoomCode(first["code"]),
        settings,
        RoomStatus(first["status"]),
        first["version"],
        seats,
    )
