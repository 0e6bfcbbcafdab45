"""read_payload: the one reader of every request's payload, shown on a request of its own."""

from __future__ import annotations

import pytest

from rooms_domain import Problem, ValidationFailed
from rooms_domain.payloads import MISSING, Field, read_payload


def _seat_index_problem(value: object) -> str | None:
    # Only the JSON type here: which seats are usable depends on the room.
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    return "must be an integer"


def _ready_problem(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


FIELDS = {
    "seat_index": Field(_seat_index_problem),
    "ready": Field(_ready_problem, default=False),
}


def problems(payload: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as failed:
        read_payload("a_request", payload, FIELDS)
    return [(p.field, p.problem) for p in failed.value.problems]


def test_values_come_back_with_defaults_filled_in() -> None:
    assert read_payload("a_request", {"seat_index": 2}, FIELDS) == {"seat_index": 2, "ready": False}
    assert read_payload("a_request", {"seat_index": 0, "ready": True}, FIELDS)["ready"] is True


def test_every_problem_at_once_in_field_order_then_unknown_fields() -> None:
    assert problems({"zz": 1, "ready": "yes", "aa": None}) == [
        ("seat_index", "is required"),
        ("ready", "must be true or false"),
        ("zz", "is not a field of a_request"),
        ("aa", "is not a field of a_request"),
    ]


@pytest.mark.parametrize("value", [True, 1.0, "1", None, [1]])
def test_a_value_of_the_wrong_json_type_breaks_its_rule(value: object) -> None:
    assert problems({"seat_index": value}) == [("seat_index", "must be an integer")]


def test_a_null_field_is_sent_not_missing() -> None:
    assert problems({"seat_index": 1, "ready": None}) == [("ready", "must be true or false")]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [(MISSING, "is required"), (None, "must be a JSON object"), ([1], "must be a JSON object")],
)
def test_the_payload_itself_must_be_an_object(payload: object, problem: str) -> None:
    with pytest.raises(ValidationFailed) as failed:
        read_payload("a_request", payload, FIELDS)
    assert failed.value.problems == (Problem("payload", problem),)
