"""A schema as plain values, and the differences between two of them, in words."""

from __future__ import annotations

from dataclasses import dataclass


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
    # columns and constraints than this service relies on.
    exact: bool = True


@dataclass(frozen=True, slots=True)
class Schema:
    enums: dict[str, tuple[str, ...]]
    tables: dict[str, Table]


def differences(expected: Schema, live: Schema) -> list[str]:
    """Every way ``live`` falls short of ``expected``; empty when it matches."""
    found: list[str] = []
    for name, labels in expected.enums.items():
        live_labels = live.enums.get(name)
        if live_labels is None:
            found.append(f"type {name}: missing (expected ENUM {_labels(labels)})")
        elif live_labels != labels:
            found.append(f"type {name}: labels {_labels(live_labels)}, expected {_labels(labels)}")
    for name, table in expected.tables.items():
        live_table = live.tables.get(name)
        if live_table is None:
            found.append(f"table {name}: missing")
        else:
            found.extend(_table_differences(table, live_table))
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


def _labels(labels: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{label}'" for label in labels) + ")"


def _nullability(column: Column) -> str:
    return "NOT NULL" if column.not_null else "nullable"


def _default(column: Column) -> str:
    return "none" if column.default is None else column.default
