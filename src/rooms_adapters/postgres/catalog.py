"""Reads the live schema from pg_catalog: read-only, current schema only.

Privileges are those of the connection's role (``current_user``), the one
the service will run as.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from rooms_adapters.postgres.schema_model import READ_WRITE, Column, Schema, Table

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Connection

_ENUMS = """
SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels,
       has_type_privilege(t.oid, 'USAGE') AS usable
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
WHERE t.typnamespace = current_schema()::regnamespace AND t.typname = ANY($1::text[])
GROUP BY t.oid, t.typname
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
# Definitions on one line each: pg_get_ruledef() spreads a rule over several.
_TABLES = r"""
SELECT c.relname AS table_name, c.relrowsecurity AS row_security,
       ARRAY(SELECT p FROM unnest($2::text[]) AS p WHERE has_table_privilege(c.oid, p))
         AS privileges,
       ARRAY(SELECT regexp_replace(pg_get_indexdef(i.indexrelid), '\s+', ' ', 'g')
             FROM pg_index i
             WHERE i.indrelid = c.oid AND NOT EXISTS (
               SELECT FROM pg_constraint k
               WHERE k.conrelid = c.oid AND k.conindid = i.indexrelid)) AS indexes,
       ARRAY(SELECT regexp_replace(pg_get_triggerdef(t.oid), '\s+', ' ', 'g')
             FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) AS triggers,
       ARRAY(SELECT regexp_replace(pg_get_ruledef(r.oid), '\s+', ' ', 'g')
             FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN') AS rules
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname = ANY($1::text[])
"""


async def read_schema(
    conn: Connection, enum_names: Collection[str], table_names: Collection[str]
) -> Schema:
    """The named enums and tables as they are (absent ones are simply not there)."""
    enum_names, table_names = list(enum_names), list(table_names)
    enum_rows = await conn.fetch(_ENUMS, enum_names)
    enums = {row["typname"]: tuple(row["labels"]) for row in enum_rows}
    columns: dict[str, list[Column]] = {}
    for row in await conn.fetch(_COLUMNS, table_names):
        columns.setdefault(row["table_name"], []).append(
            Column(row["name"], row["type"], row["not_null"], row["default"])
        )
    constraints: dict[str, set[str]] = {}
    for row in await conn.fetch(_CONSTRAINTS, table_names):
        constraints.setdefault(row["table_name"], set()).add(row["definition"])
    role = await conn.fetchval("SELECT current_user")
    tables = {}
    for row in await conn.fetch(_TABLES, table_names, list(READ_WRITE)):
        name = row["table_name"]
        tables[name] = Table(
            name,
            tuple(columns.get(name, ())),
            frozenset(constraints.get(name, ())),
            privileges=tuple(row["privileges"]),
            indexes=frozenset(row["indexes"]),
            triggers=frozenset(row["triggers"]),
            rules=frozenset(row["rules"]),
            row_security=row["row_security"],
        )
    unusable = frozenset(row["typname"] for row in enum_rows if not row["usable"])
    return Schema(enums, tables, role=role, unusable_types=unusable)
