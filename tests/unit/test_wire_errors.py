"""The one table from domain errors to wire codes (contract §3)."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from rooms_domain import (
    CodeSpaceExhausted,
    IdempotencyKeyReused,
    Problem,
    RequestInProgress,
    RoomsError,
    StoreUnavailable,
    UnknownUser,
    ValidationFailed,
)
from rooms_domain.errors import (
    NotHost,
    NotInRoom,
    NotReady,
    RoomFull,
    RoomInGame,
    RoomNotFound,
    SeatProblem,
)
from rooms_ws.errors import RETRYABLE, CloseCode, ErrorCode, is_expected, to_wire


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (ValidationFailed([Problem("max_players", "x")]), "validation_failed", False),
        (IdempotencyKeyReused("x"), "idempotency_key_reused", False),
        (RequestInProgress("x"), "request_in_progress", True),
        (StoreUnavailable("x"), "unavailable", True),
        (UnknownUser("x"), "internal_error", True),
        (CodeSpaceExhausted("x"), "internal_error", True),
        (RoomsError("x"), "internal_error", True),
        (RuntimeError("x"), "internal_error", True),
        (KeyError("x"), "internal_error", True),
        (asyncpg.PostgresError("x"), "internal_error", True),
        (RoomNotFound("x"), "room_not_found", False),
        (RoomFull("x"), "room_full", False),
        (RoomInGame("x"), "room_in_game", False),
        (NotInRoom("x"), "not_in_room", False),
        (NotHost("x"), "not_host", False),
        (NotReady("x"), "not_ready", False),
    ],
)
def test_each_error_maps_to_one_code(error: Exception, code: str, retryable: bool) -> None:
    wire = to_wire(error)
    assert wire.code == code
    assert wire.retryable is retryable


def test_retryable_is_fixed_per_code_as_the_contract_says() -> None:
    assert {code.value: flag for code, flag in RETRYABLE.items()} == {
        "bad_message": False,
        "unknown_type": False,
        "validation_failed": False,
        "request_in_progress": True,
        "idempotency_key_reused": False,
        "rate_limited": True,
        "unavailable": True,
        "internal_error": True,
        "room_not_found": False,
        "room_full": False,
        "room_in_game": False,
        "not_in_room": False,
        "not_host": False,
        "not_ready": False,
    }
    assert set(RETRYABLE) == set(ErrorCode)


def test_validation_details_are_the_problems() -> None:
    problems = [Problem("visibility", "a"), Problem("ruleset_id", "b")]
    assert to_wire(ValidationFailed(problems)).details == tuple(problems)


def test_subclasses_map_like_their_parent() -> None:
    class PoolTimeout(StoreUnavailable):
        pass

    assert to_wire(PoolTimeout("x")).code is ErrorCode.UNAVAILABLE


def test_messages_never_carry_the_exception_text() -> None:
    assert "secret detail" not in to_wire(RuntimeError("secret detail")).message
    assert "secret detail" not in to_wire(StoreUnavailable("secret detail")).message


def test_only_bugs_are_unexpected() -> None:
    assert is_expected(RequestInProgress("x"))
    assert not is_expected(RuntimeError("x"))
    assert not is_expected(CodeSpaceExhausted("x"))


def test_close_codes() -> None:
    assert [int(code) for code in CloseCode] == [1000, 1009, 1012, 4001, 4008, 4009]


def test_not_ready_details_name_each_blocking_seat_on_the_wire() -> None:
    from rooms_ws.messages import error_reply

    refusal = NotReady.blocking([SeatProblem(2, "empty"), SeatProblem(0, "not ready")])
    frame = orjson.loads(error_reply(to_wire(refusal), None).text)
    assert frame["payload"]["code"] == "not_ready" and not frame["payload"]["retryable"]
    assert frame["payload"]["details"] == [
        {"seat_index": 0, "problem": "not ready"},
        {"seat_index": 2, "problem": "empty"},
    ]
    assert is_expected(refusal)
