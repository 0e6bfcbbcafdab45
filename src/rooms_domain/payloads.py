"""Reading a request's payload: the one place where ``validation_failed`` is decided.

The wire layer hands over the payload as decoded JSON (or :data:`MISSING`);
each request declares its fields, each with the rule its value must meet and
its default, and :func:`read_payload` applies them all, reporting every
problem at once: the payload is not an object, a field is missing or unknown,
a value breaks its rule (wrong JSON type and wrong value alike: one rule per
field, so one problem per field). Rules that need the stored state (a seat
index against the room's seats) are judged later, by the use case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from rooms_domain.errors import Problem, ValidationFailed


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


MISSING: Final = _Marker("MISSING")  # a payload that was not sent
REQUIRED: Final = _Marker("REQUIRED")  # the default of a field that must be sent

Rule = Callable[[object], str | None]  # a value's problem, or None when it meets the rule


@dataclass(frozen=True, slots=True)
class Field:
    rule: Rule
    default: object = REQUIRED


def read_payload(request: str, payload: object, fields: Mapping[str, Field]) -> dict[str, object]:
    """Every field's value (defaults filled in), or ValidationFailed with every problem.

    The problems come in the order of ``fields``, then the unknown fields in
    the order they were sent.
    """
    if payload is MISSING:
        raise ValidationFailed([Problem("payload", "is required")])
    if not isinstance(payload, dict):
        raise ValidationFailed([Problem("payload", "must be a JSON object")])
    values: dict[str, object] = {}
    problems: list[Problem] = []
    for name, field in fields.items():
        value = payload.get(name, field.default)
        if value is REQUIRED:
            problems.append(Problem(name, "is required"))
            continue
        problem = field.rule(value)
        if problem is not None:
            problems.append(Problem(name, problem))
        values[name] = value
    problems.extend(
        Problem(name, f"is not a field of {request}") for name in payload if name not in fields
    )
    if problems:
        raise ValidationFailed(problems)
    return values
