"""Reads the live schema from pg_catalog: read-only, current schema only."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from rooms_adapters.postgres.schema_model import Column, Schema, Table

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Connection

_ENUMS = """
SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
WHERE t.typnamespace = current_schema()::regnamespace AND t.typname = ANY($1::text[])
GROUP BY t.typname
"""
_COLUMNS = """
SELECT c.relname AS table_name, a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname = ANY($1::text[])
ORDER BY c.relname, a.attnum
"""
# contype 'n' (NOT NULL, listed as constraints since PostgreSQL 18) is left
# out: nullability is compared per column, on every version alike.
_CONSTRAINTS = """
SELECT c.relname AS table_name, pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1::text[])
  AND k.contype <> 'n'
"""


async def read_schema(
    conn: Connection, enum_names: Collection[str], table_names: Collection[str]
) -> Schema:
    """The named enums and tables as they are (absent ones are simply not there)."""
    enum_names, table_names = list(enum_names), list(table_names)
    enums = {row["typname"]: tuple(row["labels"]) for row in await conn.fetch(_ENUMS, enum_names)}
    columns: dict[str, list[Column]] = {}
    for row in await conn.fetch(_COLUMNS, table_names):
        columns.setdefault(row["table_name"], []).append(
            Column(row["name"], row["type"], row["not_null"], row["default"])
        )
    constraints: dict[str, set[str]] = {}
    for row in await conn.fetch(_CONSTRAINTS, table_names):
        constraints.setdefault(row["table_name"], set()).add(row["definition"])
    tables = {
        name: Table(name, tuple(cols), frozenset(constraints.get(name, ())))
        for name, cols in columns.items()
    }
    return Schema(enums, tables)
