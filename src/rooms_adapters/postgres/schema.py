"""Apply ``schema.sql``; compare a live database with what the code expects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import TYPE_CHECKING

import asyncpg

from rooms_adapters.postgres.catalog import read_schema
from rooms_adapters.postgres.errors import translated
from rooms_adapters.postgres.schema_expected import EXPECTED_SCHEMA
from rooms_adapters.postgres.schema_model import differences

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Connection

SCHEMA_SQL = files("rooms_adapters.postgres").joinpath("schema.sql").read_text(encoding="utf-8")

# Any constant will do, as long as every process applying the schema uses it.
_APPLY_LOCK_KEY = 0x726F6F6D73  # "rooms"


class DatabaseRefused(Exception):
    """PostgreSQL answered, and said no: no such database, no login, no privilege.

    Unlike StoreUnavailable, waiting will not help: someone has to change a
    setting or a grant. The message says what was being done and what the
    server answered, on one line.
    """


@contextmanager
def refusals(doing: str) -> Iterator[None]:
    """Turn the server's refusals (any PostgresError) into :class:`DatabaseRefused`."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        answer = " ".join(str(exc).split()) or type(exc).__name__
        raise DatabaseRefused(f"{doing}: {answer} (SQLSTATE {exc.sqlstate})") from exc


async def apply_schema(conn: Connection) -> None:
    """Create whatever is missing; harmless to repeat, never alters what exists."""
    with translated(conn):
        async with conn.transaction():
            # "already exists, skipping" is the expected case, not news.
            await conn.execute("SET LOCAL client_min_messages = warning")
            # Two processes initialising a fresh database at once would race on
            # CREATE TYPE, which has no IF NOT EXISTS.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPLY_LOCK_KEY)
            await conn.execute(SCHEMA_SQL)


async def schema_differences(conn: Connection) -> list[str]:
    """Every difference between the live schema and the expected one, in words.

    Reads the catalog of the connection's current schema; changes nothing.
    An empty list means the database is fit for this code.
    """
    with translated(conn):
        live = await read_schema(conn, EXPECTED_SCHEMA.enums, EXPECTED_SCHEMA.tables)
    return differences(EXPECTED_SCHEMA, live)
