"""schema.sql, apply_schema and the schema check, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from rooms_adapters.postgres import apply_schema, schema_differences
from tests.integration.postgres_roles import READ_ONLY, login_role

pytestmark = pytest.mark.integration


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def read_only_check(conn: asyncpg.Connection[asyncpg.Record]) -> list[str]:
    # In a read-only transaction, any write the check attempted would fail.
    async with conn.transaction(readonly=True):
        return await schema_differences(conn)


async def test_a_fresh_database_matches(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    assert await read_only_check(conn) == []


async def test_applying_again_is_harmless(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    await conn.execute("INSERT INTO users VALUES ('00000000-0000-0000-0000-000000000001', 'Ann')")
    await apply_schema(conn)
    await apply_schema(conn)
    assert await read_only_check(conn) == []
    assert await conn.fetchval("SELECT count(*) FROM users") == 1


async def test_concurrent_applies_on_an_empty_schema_do_not_race(database_url: str) -> None:
    conns = [await asyncpg.connect(database_url) for _ in range(4)]
    try:
        await conns[0].execute("CREATE SCHEMA fresh")
        for c in conns:
            await c.execute("SET search_path = fresh")
        await asyncio.gather(*(apply_schema(c) for c in conns))
        assert await read_only_check(conns[0]) == []
    finally:
        for c in conns:
            await c.close()


async def test_an_empty_schema_lacks_everything(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    await conn.execute("CREATE SCHEMA empty; SET search_path = empty")
    assert await read_only_check(conn) == [
        "type room_visibility: missing (expected ENUM ('public', 'private'))",
        "type room_status: missing (expected ENUM ('open', 'in_game', 'closed'))",
        "type seat_status: missing (expected ENUM ('empty', 'occupied'))",
        "type seat_ready: missing (expected ENUM ('not_ready', 'ready'))",
        "type idempotency_status: missing (expected ENUM ('in_progress', 'completed', 'failed'))",
        "table users: missing",
        "table rooms: missing",
        "table room_seats: missing",
        "table ws_idempotency: missing",
    ]


CHANGES = {
    "dropped column": (
        "ALTER TABLE rooms DROP COLUMN version",
        ["column rooms.version: missing"],
    ),
    "extra column": (
        "ALTER TABLE room_seats ADD COLUMN joined_at timestamptz",
        ["column room_seats.joined_at: not expected"],
    ),
    "changed default": (
        "ALTER TABLE rooms ALTER COLUMN visibility SET DEFAULT 'public'",
        [
            "column rooms.visibility: default 'public'::room_visibility,"
            " expected 'private'::room_visibility"
        ],
    ),
    "dropped default": (
        "ALTER TABLE rooms ALTER COLUMN ruleset_config DROP DEFAULT",
        ["column rooms.ruleset_config: default none, expected '{}'::jsonb"],
    ),
    "changed type": (
        "ALTER TABLE rooms ALTER COLUMN max_players TYPE integer",
        ["column rooms.max_players: type integer, expected smallint"],
    ),
    "nullability": (
        "ALTER TABLE rooms ALTER COLUMN ruleset_id DROP NOT NULL",
        ["column rooms.ruleset_id: nullable, expected NOT NULL"],
    ),
    "missing enum label": (
        "ALTER TYPE room_status RENAME VALUE 'closed' TO 'shut'",
        [
            "type room_status: labels ('open', 'in_game', 'shut'),"
            " expected ('open', 'in_game', 'closed')"
        ],
    ),
    "extra enum label": (
        "ALTER TYPE seat_ready ADD VALUE 'away'",
        ["type seat_ready: labels ('not_ready', 'ready', 'away'), expected ('not_ready', 'ready')"],
    ),
    "dropped unique": (
        "ALTER TABLE rooms DROP CONSTRAINT rooms_code_key",
        ["table rooms: missing UNIQUE (code)"],
    ),
    "changed primary key": (
        "ALTER TABLE ws_idempotency DROP CONSTRAINT ws_idempotency_pkey,"
        " ADD PRIMARY KEY (request_id)",
        [
            "table ws_idempotency: missing PRIMARY KEY (user_id, request_id)",
            "table ws_idempotency: unexpected PRIMARY KEY (request_id)",
        ],
    ),
    "no cascade": (
        "ALTER TABLE room_seats DROP CONSTRAINT room_seats_room_id_fkey,"
        " ADD FOREIGN KEY (room_id) REFERENCES rooms (room_id)",
        [
            "table room_seats: missing FOREIGN KEY (room_id) REFERENCES rooms(room_id)"
            " ON DELETE CASCADE",
            "table room_seats: unexpected FOREIGN KEY (room_id) REFERENCES rooms(room_id)",
        ],
    ),
    "dropped foreign key": (
        "ALTER TABLE ws_idempotency DROP CONSTRAINT ws_idempotency_user_id_fkey",
        ["table ws_idempotency: missing FOREIGN KEY (user_id) REFERENCES users(user_id)"],
    ),
    "dropped check": (
        "ALTER TABLE room_seats DROP CONSTRAINT room_seats_seat_index_check",
        ["table room_seats: missing CHECK (((seat_index >= 0) AND (seat_index <= 3)))"],
    ),
    "extra unique index": (
        "CREATE UNIQUE INDEX rooms_one_per_owner ON rooms (owner_user_id)",
        [
            "table rooms: unexpected index CREATE UNIQUE INDEX rooms_one_per_owner"
            " ON public.rooms USING btree (owner_user_id)"
        ],
    ),
    "trigger that swallows inserts": (
        "CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;"
        " CREATE TRIGGER no_rooms BEFORE INSERT ON rooms FOR EACH ROW EXECUTE FUNCTION swallow()",
        [
            "table rooms: unexpected trigger CREATE TRIGGER no_rooms BEFORE INSERT ON public.rooms"
            " FOR EACH ROW EXECUTE FUNCTION swallow()"
        ],
    ),
    "rule": (
        "CREATE RULE no_seats AS ON INSERT TO room_seats DO INSTEAD NOTHING",
        [
            "table room_seats: unexpected rule CREATE RULE no_seats AS ON INSERT"
            " TO public.room_seats DO INSTEAD NOTHING;"
        ],
    ),
    "row-level security": (
        "ALTER TABLE ws_idempotency ENABLE ROW LEVEL SECURITY",
        ["table ws_idempotency: row-level security enabled, expected disabled"],
    ),
    "dropped table": (
        "DROP TABLE ws_idempotency",
        ["table ws_idempotency: missing"],
    ),
}


@pytest.mark.parametrize(("change", "expected"), CHANGES.values(), ids=CHANGES.keys())
async def test_the_check_names_each_difference_and_apply_does_not_repair_it(
    conn: asyncpg.Connection[asyncpg.Record], change: str, expected: list[str]
) -> None:
    await conn.execute(change)

    assert await read_only_check(conn) == expected
    await apply_schema(conn)  # only creates what is missing: a dropped table comes back
    if change.startswith("DROP TABLE"):
        assert await read_only_check(conn) == []
    else:
        assert await read_only_check(conn) == expected


async def test_the_platforms_users_table_may_hold_more(
    conn: asyncpg.Connection[asyncpg.Record],
) -> None:
    await conn.execute("ALTER TABLE users ADD COLUMN email text UNIQUE")
    assert await read_only_check(conn) == []


async def role_check(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return await read_only_check(conn)
    finally:
        await conn.close()


async def test_a_role_that_may_only_read_is_named_with_what_it_lacks(database_url: str) -> None:
    async with login_role(database_url, READ_ONLY) as role:
        assert await role_check(role.url) == [
            f"table {table}: role {role.name} lacks INSERT, UPDATE, DELETE"
            for table in ("rooms", "room_seats", "ws_idempotency")
        ]


async def test_a_role_with_what_the_service_needs_passes(database_url: str) -> None:
    async with login_role(
        database_url,
        "GRANT SELECT ON users TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON rooms, room_seats, ws_idempotency TO {role}",
    ) as role:
        assert await role_check(role.url) == []


async def test_a_role_that_may_not_use_an_enum_is_named(database_url: str) -> None:
    async with login_role(
        database_url,
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "REVOKE USAGE ON TYPE room_status FROM PUBLIC",
    ) as role:
        assert await role_check(role.url) == [f"type room_status: role {role.name} lacks USAGE"]


async def test_the_platforms_users_table_may_have_triggers_and_indexes(
    conn: asyncpg.Connection[asyncpg.Record],
) -> None:
    await conn.execute(
        "CREATE INDEX users_by_name ON users (display_name);"
        " CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;"
        " CREATE TRIGGER audit AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION audit()"
    )
    assert await read_only_check(conn) == []
