"""CreateRoomCommand: built from a payload, its defaults, and the fingerprint that catches a
reused request id."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from rooms_domain import (
    CreateRoomCommand,
    RequestId,
    RequestKey,
    RoomSettings,
    UserId,
    ValidationFailed,
    Visibility,
)

USER = UserId(uuid.UUID("00000000-0000-4000-8000-000000000001"))
OTHER_USER = UserId(uuid.UUID("00000000-0000-4000-8000-000000000002"))
REQUEST = RequestId(uuid.UUID("00000000-0000-4000-8000-0000000000aa"))
OTHER_REQUEST = RequestId(uuid.UUID("00000000-0000-4000-8000-0000000000bb"))


def cmd(
    user_id: UserId = USER, request_id: RequestId = REQUEST, **fields: object
) -> CreateRoomCommand:
    return CreateRoomCommand.from_payload(user_id, request_id, {"ruleset_id": "classic", **fields})


def test_the_defaults_are_the_contracts() -> None:
    assert cmd().settings == RoomSettings(Visibility.PRIVATE, 4, "classic", {})


def test_each_command_gets_its_own_config() -> None:
    config: dict[str, object] = {"a": [1]}
    command = cmd(ruleset_config=config)
    assert command.settings.ruleset_config == config
    assert command.settings.ruleset_config is not config
    assert cmd().settings.ruleset_config is not cmd().settings.ruleset_config


def test_its_key_is_the_user_and_the_request_id() -> None:
    assert cmd().key == RequestKey(USER, REQUEST)


def test_a_payload_that_breaks_a_rule_builds_no_command() -> None:
    with pytest.raises(ValidationFailed) as failed:
        CreateRoomCommand.from_payload(USER, REQUEST, {"max_players": True, "colour": 1})
    assert [(p.field, p.problem) for p in failed.value.problems] == [
        ("max_players", "must be an integer from 2 to 4"),
        ("ruleset_id", "is required"),
        ("colour", "is not a field of create_room"),
    ]


def test_omitted_defaults_and_explicit_defaults_have_one_fingerprint() -> None:
    explicit = cmd(visibility="private", max_players=4, ruleset_config={})
    assert cmd().fingerprint() == explicit.fingerprint()


def test_the_fingerprint_ignores_key_order_and_the_enum_spelling() -> None:
    a = cmd(visibility=Visibility.PRIVATE, ruleset_config={"a": 1, "b": {"d": 2, "c": 3}})
    b = cmd(visibility="private", ruleset_config={"b": {"c": 3, "d": 2}, "a": 1})
    assert a.fingerprint() == b.fingerprint()


def test_the_fingerprint_is_of_the_payload_not_of_who_sent_it() -> None:
    """The key (user, request_id) already says who and which; the fingerprint says what."""
    assert cmd().fingerprint() == cmd(OTHER_USER, OTHER_REQUEST).fingerprint()


BASE: dict[str, object] = {"ruleset_config": {"turn_s": 30}}


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"max_players": 3}, id="max_players"),
        pytest.param({"ruleset_config": {}}, id="ruleset_config-default"),
        pytest.param({"ruleset_config": {"turn_s": 31}}, id="ruleset_config-value"),
        pytest.param({"ruleset_config": {"turn_s": "30"}}, id="ruleset_config-type"),
        pytest.param({"ruleset_config": {"turn_s": 30.0}}, id="ruleset_config-float"),
    ],
)
def test_any_change_of_the_payload_changes_the_fingerprint(changed: dict[str, object]) -> None:
    def of(fields: dict[str, object]) -> CreateRoomCommand:
        return CreateRoomCommand.from_payload(USER, REQUEST, {"ruleset_id": "classic", **fields})

    assert of({**BASE, **changed}).fingerprint() != of(BASE).fingerprint()


def test_the_fingerprint_is_the_one_rows_stored_earlier_hold() -> None:
    """A sha256 of the canonical payload: keys of older rows must still replay."""
    canonical = {
        "operation": "create_room",
        "fields": {
            "max_players": 3,
            "ruleset_config": {"a": [1, 2.5], "ñ": None},
            "ruleset_id": "classic",
            "visibility": "private",
        },
    }
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert cmd(max_players=3, ruleset_config={"ñ": None, "a": [1, 2.5]}).fingerprint() == expected
