"""A schema as plain values, and the differences between two of them, in words.

Beyond tables and columns, what decides whether the service works on a
database: the privileges of the role it logs in as (a role with SELECT only
passed the check, then every create failed), and anything on its tables that
``schema.sql`` did not put there: an index (an extra UNIQUE index refuses rows
the code expects to insert), a trigger or a rule (either can swallow or refuse
a write), row-level security.
"""

from __future__ import annotations

from dataclasses import dataclass

# What the service does to the tables it owns.
READ_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # as format_type() spells it: "smallint", "room_status", ...
    not_null: bool
    default: str | None  # as pg_get_expr() spells it: "'open'::room_status"


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    constraints: frozenset[str]  # as pg_get_constraintdef() spells them
    # False for a table another system owns (``users``): it may hold more
    # columns, constraints, indexes, triggers and rules than this service relies on.
    exact: bool = True
    # Expected: the privileges the service needs. Live: those of them the role has.
    privileges: tuple[str, ...] = READ_WRITE
    # Indexes that back no constraint, as pg_get_indexdef() spells them.
    indexes: frozenset[str] = frozenset()
    # User triggers (not the foreign keys' internal ones) and rules, as
    # pg_get_triggerdef() and pg_get_ruledef() spell them.
    triggers: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    row_security: bool = False


@dataclass(frozen=True, slots=True)
class Schema:
    enums: dict[str, tuple[str, ...]]
    tables: dict[str, Table]
    # Live only: the role that was checked, and the enums it may not use.
    role: str = ""
    unusable_types: frozenset[str] = frozenset()


def differences(expected: Schema, live: Schema) -> list[str]:
    """Every way ``live`` falls short of ``expected``; empty when it matches."""
    found: list[str] = []
    for name, labels in expected.enums.items():
        live_labels = live.enums.get(name)
        if live_labels is None:
            found.append(f"type {name}: missing (expected ENUM {_labels(labels)})")
        elif live_labels != labels:
            found.append(f"type {name}: labels {_labels(live_labels)}, expected {_labels(labels)}")
        if name in live.unusable_types:
            found.append(f"type {name}: role {live.role} lacks USAGE")
    for name, table in expected.tables.items():
        live_table = live.tables.get(name)
        if live_table is None:
            found.append(f"table {name}: missing")
        else:
            found.extend(_table_differences(table, live_table))
            lacking = [p for p in table.privileges if p not in live_table.privileges]
            if lacking:
                found.append(f"table {name}: role {live.role} lacks {', '.join(lacking)}")
    return found


def _table_differences(expected: Table, live: Table) -> list[str]:
    found: list[str] = []
    live_columns = {c.name: c for c in live.columns}
    for column in expected.columns:
        live_column = live_columns.pop(column.name, None)
        where = f"column {expected.name}.{column.name}"
        if live_column is None:
            found.append(f"{where}: missing")
        else:
            found.extend(f"{where}: {problem}" for problem in _column_problems(column, live_column))
    if expected.exact:
        found.extend(f"column {expected.name}.{name}: not expected" for name in live_columns)
    for constraint in sorted(expected.constraints - live.constraints):
        found.append(f"table {expected.name}: missing {constraint}")
    if expected.exact:
        for constraint in sorted(live.constraints - expected.constraints):
            found.append(f"table {expected.name}: unexpected {constraint}")
        found.extend(_extras(expected, live))
    return found


def _extras(expected: Table, live: Table) -> list[str]:
    where = f"table {expected.name}"
    found: list[str] = []
    for kind, wanted, present in (
        ("index", expected.indexes, live.indexes),
        ("trigger", expected.triggers, live.triggers),
        ("rule", expected.rules, live.rules),
    ):
        found.extend(f"{where}: missing {kind} {d}" for d in sorted(wanted - present))
        found.extend(f"{where}: unexpected {kind} {d}" for d in sorted(present - wanted))
    if live.row_security != expected.row_security:
        found.append(
            f"{where}: row-level security {_enabled(live.row_security)},"
            f" expected {_enabled(expected.row_security)}"
        )
    return found


def _column_problems(expected: Column, live: Column) -> list[str]:
    problems: list[str] = []
    if live.type != expected.type:
        problems.append(f"type {live.type}, expected {expected.type}")
    if live.not_null != expected.not_null:
        problems.append(f"{_nullability(live)}, expected {_nullability(expected)}")
    if live.default != expected.default:
        problems.append(f"default {_default(live)}, expected {_default(expected)}")
    return problems


def _enabled(flag: bool) -> str:
    return "enabled" if flag else "disabled"


def _labels(labels: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{label}'" for label in labels) + ")"


def _nullability(column: Column) -> str:
    return "NOT NULL" if column.not_null else "nullable"


def _default(column: Column) -> str:
    return "none" if column.default is None else column.default
