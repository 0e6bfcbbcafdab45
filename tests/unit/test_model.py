"""The rules of contract §4 on the model, the shape of a new room, and the value objects."""

from __future__ import annotations

import json
import math
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms_domain import (
    CreateRoomOk,
    Problem,
    Readiness,
    Room,
    RoomCode,
    RoomId,
    RoomsError,
    RoomSettings,
    RoomStatus,
    Seat,
    SeatStatus,
    UserId,
    ValidationFailed,
    Visibility,
)
from rooms_domain.model import CODE_ALPHABET
from tests.contracts.support import new_room

VALID: dict[str, object] = {
    "visibility": "private",
    "max_players": 4,
    "ruleset_id": "classic",
    "ruleset_config": {},
}


def check(**changes: object) -> RoomSettings:
    return RoomSettings.checked({**VALID, **changes}, request="create_room")


def problems_of(**changes: object) -> list[Problem]:
    with pytest.raises(ValidationFailed) as failed:
        check(**changes)
    return list(failed.value.problems)


def fields_of(**changes: object) -> list[str]:
    return [p.field for p in problems_of(**changes)]


def config_of_size(n_bytes: int, *, char: str = "x") -> dict[str, object]:
    """A config whose compact JSON is exactly ``n_bytes`` of UTF-8: {"k":"..."}."""
    overhead = len('{"k":""}')
    width = len(char.encode())
    assert (n_bytes - overhead) % width == 0
    config: dict[str, object] = {"k": char * ((n_bytes - overhead) // width)}
    assert len(json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()) == n_bytes
    return config


# --- a valid payload --------------------------------------------------------------------------


@pytest.mark.parametrize("max_players", [2, 3, 4])
def test_a_valid_payload_gives_settings(max_players: int) -> None:
    settings = check(max_players=max_players, ruleset_config={"turn_s": 30, "deck": ["a"]})
    assert settings == RoomSettings(
        Visibility.PRIVATE, max_players, "classic", {"turn_s": 30, "deck": ["a"]}
    )
    assert settings.visibility is Visibility.PRIVATE


def test_the_visibility_enum_member_is_accepted() -> None:
    assert check(visibility=Visibility.PRIVATE).visibility is Visibility.PRIVATE


# --- visibility ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "visibility", ["public", Visibility.PUBLIC, "PRIVATE", "Private", " private", "", None, 1, True]
)
def test_visibility_must_be_private(visibility: object) -> None:
    assert fields_of(visibility=visibility) == ["visibility"]


# --- max_players -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "max_players",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(3.0, id="float-3.0"),
        pytest.param(2.5, id="float-2.5"),
        pytest.param(math.nan, id="nan"),
        pytest.param("3", id="str"),
        pytest.param(None, id="null"),
        pytest.param([3], id="list"),
        pytest.param(1, id="one"),
        pytest.param(0, id="zero"),
        pytest.param(-3, id="negative"),
        pytest.param(5, id="five"),
        pytest.param(2**70, id="huge"),
    ],
)
def test_max_players_must_be_an_integer_from_2_to_4(max_players: object) -> None:
    assert fields_of(max_players=max_players) == ["max_players"]


@given(st.integers())
def test_max_players_accepts_exactly_the_integers_2_to_4(max_players: int) -> None:
    if 2 <= max_players <= 4:
        assert check(max_players=max_players).max_players == max_players
    else:
        assert fields_of(max_players=max_players) == ["max_players"]


# --- ruleset_id ------------------------------------------------------------------------------


@pytest.mark.parametrize("ruleset_id", ["poker", "Classic", "CLASSIC", "classic ", "", None, 1, []])
def test_ruleset_id_must_be_classic(ruleset_id: object) -> None:
    assert fields_of(ruleset_id=ruleset_id) == ["ruleset_id"]


# --- ruleset_config --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ruleset_config",
    [
        pytest.param([], id="list"),
        pytest.param("{}", id="str"),
        pytest.param(None, id="null"),
        pytest.param(0, id="number"),
        pytest.param(True, id="bool"),
        pytest.param({1: "a"}, id="int-key"),
        pytest.param({None: "a"}, id="null-key"),
        pytest.param({("a",): 1}, id="tuple-key"),
        pytest.param({"a": 1, 2: "b"}, id="mixed-keys"),
    ],
)
def test_ruleset_config_must_be_an_object_with_string_keys(ruleset_config: object) -> None:
    assert fields_of(ruleset_config=ruleset_config) == ["ruleset_config"]


@pytest.mark.parametrize(
    "ruleset_config",
    [
        pytest.param({"a": math.nan}, id="nan"),
        pytest.param({"a": math.inf}, id="infinity"),
        pytest.param({"a": [1, -math.inf]}, id="nested-infinity"),
        pytest.param({"a": {"b": math.nan}}, id="deep-nan"),
        pytest.param({"a": object()}, id="object"),
        pytest.param({"a": {1, 2}}, id="set"),
        pytest.param({"a": b"bytes"}, id="bytes"),
        pytest.param({"a": {1: "x", "b": 2}}, id="nested-mixed-keys"),
        pytest.param({"a": "nul\x00inside"}, id="nul-in-string"),
        pytest.param({"k\x00": 1}, id="nul-in-key"),
    ],
)
def test_ruleset_config_must_hold_only_json_values(ruleset_config: object) -> None:
    assert fields_of(ruleset_config=ruleset_config) == ["ruleset_config"]


@pytest.mark.parametrize(
    "ruleset_config",
    [
        pytest.param({"a": {1: "x"}}, id="nested-int-key"),
        pytest.param({"a": (1, 2)}, id="tuple-value"),
    ],
)
def test_ruleset_config_is_plain_json_at_every_depth(ruleset_config: object) -> None:
    assert fields_of(ruleset_config=ruleset_config) == ["ruleset_config"]


def test_ruleset_config_of_exactly_4096_compact_bytes_is_accepted() -> None:
    config = config_of_size(4096)
    assert check(ruleset_config=config).ruleset_config == config


def test_ruleset_config_of_4097_compact_bytes_is_refused() -> None:
    assert fields_of(ruleset_config=config_of_size(4097)) == ["ruleset_config"]


def test_ruleset_config_size_counts_utf8_bytes_not_characters() -> None:
    assert check(ruleset_config=config_of_size(4096, char="é"))
    too_big = {"k": "é" * 2045}  # 2053 characters, 4098 bytes
    assert fields_of(ruleset_config=too_big) == ["ruleset_config"]


def test_ruleset_config_size_is_measured_compact_not_as_sent() -> None:
    config = {f"k{i}": i for i in range(300)}
    assert len(json.dumps(config, indent=4)) > 4096
    assert len(json.dumps(config, separators=(",", ":"))) <= 4096
    assert check(ruleset_config=config).ruleset_config == config


# --- all problems at once --------------------------------------------------------------------


def test_every_broken_rule_is_reported_at_once_with_its_field() -> None:
    problems = problems_of(
        visibility="public", max_players=True, ruleset_id="poker", ruleset_config=[]
    )

    assert [p.field for p in problems] == [
        "visibility",
        "max_players",
        "ruleset_id",
        "ruleset_config",
    ]
    assert all(isinstance(p, Problem) and p.problem for p in problems)


def test_the_error_names_each_field_and_is_a_rooms_error() -> None:
    with pytest.raises(ValidationFailed) as failed:
        check(visibility="public", ruleset_config=config_of_size(5000))
    assert isinstance(failed.value, RoomsError)
    assert "visibility" in str(failed.value)
    assert "ruleset_config" in str(failed.value)


@given(
    bad=st.sets(
        st.sampled_from(["visibility", "max_players", "ruleset_id", "ruleset_config"]), min_size=1
    )
)
def test_exactly_the_broken_fields_are_reported(bad: set[str]) -> None:
    breakers: dict[str, object] = {
        "visibility": "public",
        "max_players": 9,
        "ruleset_id": "poker",
        "ruleset_config": "nope",
    }
    reported = fields_of(**{name: breakers[name] for name in bad})
    assert sorted(reported) == sorted(bad)
    assert len(reported) == len(bad)


# --- a new room ------------------------------------------------------------------------------


def a_new_room(code: str = "AB12CD") -> tuple[Room, UserId]:
    owner = UserId(uuid.uuid4())
    return new_room(owner, code), owner


def test_a_new_room_is_open_at_version_0_with_the_owner_hosting_seat_0() -> None:
    room, owner = a_new_room()

    assert room.status is RoomStatus.OPEN
    assert room.version == 0
    assert room.owner_user_id == owner
    assert room.seats == (
        Seat(0, SeatStatus.OCCUPIED, owner, True, Readiness.NOT_READY),
        Seat(1, SeatStatus.EMPTY, None, False, Readiness.NOT_READY),
        Seat(2, SeatStatus.EMPTY, None, False, Readiness.NOT_READY),
        Seat(3, SeatStatus.EMPTY, None, False, Readiness.NOT_READY),
    )


def test_a_new_room_under_another_code_keeps_everything_else() -> None:
    room, _ = a_new_room("AB12CD")

    moved = room.with_code(RoomCode("ZZ99ZZ"))

    assert moved.code == "ZZ99ZZ"
    assert moved.room_id == room.room_id
    assert moved.owner_user_id == room.owner_user_id
    assert moved.settings == room.settings
    assert moved.seats == room.seats
    assert (moved.status, moved.version) == (RoomStatus.OPEN, 0)


# --- CreateRoomOk -----------------------------------------------------------------------------


def test_room_created_payload_is_the_create_room_ok_payload() -> None:
    room_id = RoomId(uuid.uuid4())
    assert CreateRoomOk(room_id, RoomCode("AB12CD")).to_payload() == {
        "room_id": str(room_id),
        "code": "AB12CD",
        "seat_index": 0,
        "is_host": True,
    }


@given(room_id=st.uuids(), code=st.text(alphabet=CODE_ALPHABET, min_size=6, max_size=6))
def test_room_created_round_trips_through_its_stored_json(room_id: uuid.UUID, code: str) -> None:
    created = CreateRoomOk(RoomId(room_id), RoomCode(code))

    stored = json.loads(json.dumps(created.to_payload()))
    back = CreateRoomOk.from_payload(stored)

    assert back == created
    assert back.to_payload() == created.to_payload()
    assert isinstance(back.code, RoomCode)
    assert isinstance(back.room_id, uuid.UUID)


# --- RoomCode --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("", id="empty"),
        pytest.param("AB12C", id="too-short"),
        pytest.param("AB12CDE", id="too-long"),
        pytest.param("ab12cd", id="lower-case"),
        pytest.param("AB12CI", id="letter-I"),
        pytest.param("AB12CL", id="letter-L"),
        pytest.param("AB12CO", id="letter-O"),
        pytest.param("AB12CU", id="letter-U"),
        pytest.param("AB 2CD", id="space"),
        pytest.param("AB-2CD", id="hyphen"),
        pytest.param("AB12C\u0394", id="non-ascii"),
    ],
)
def test_a_room_code_refuses_anything_but_six_alphabet_characters(code: str) -> None:
    with pytest.raises(ValueError, match="room code"):
        RoomCode(code)


@given(st.text(alphabet=CODE_ALPHABET, min_size=6, max_size=6))
def test_any_six_alphabet_characters_are_a_room_code(code: str) -> None:
    assert RoomCode(code) == code


@given(st.text(max_size=10))
def test_a_room_code_accepts_a_string_only_if_it_is_six_alphabet_characters(text: str) -> None:
    valid = len(text) == 6 and all(c in CODE_ALPHABET for c in text)
    if valid:
        assert RoomCode(text) == text
    else:
        with pytest.raises(ValueError, match="room code"):
            RoomCode(text)


def test_ruleset_config_nested_too_deep_is_refused_without_exhausting_the_stack() -> None:
    deep: object = 1
    for _ in range(900):
        deep = [deep]
    assert fields_of(ruleset_config={"a": deep}) == ["ruleset_config"]
