"""CreateRoomCommand: its defaults and the fingerprint that catches a reused request id."""

from __future__ import annotations

import uuid

import pytest

from rooms_domain import CreateRoomCommand, RequestId, UserId, Visibility

USER = UserId(uuid.UUID("00000000-0000-4000-8000-000000000001"))
OTHER_USER = UserId(uuid.UUID("00000000-0000-4000-8000-000000000002"))
REQUEST = RequestId(uuid.UUID("00000000-0000-4000-8000-0000000000aa"))
OTHER_REQUEST = RequestId(uuid.UUID("00000000-0000-4000-8000-0000000000bb"))


def cmd(**fields: object) -> CreateRoomCommand:
    base: dict[str, object] = {"user_id": USER, "request_id": REQUEST, "ruleset_id": "classic"}
    return CreateRoomCommand(**{**base, **fields})  # type: ignore[arg-type]


def test_the_defaults_are_the_contracts() -> None:
    command = cmd()
    assert command.visibility == "private"
    assert command.max_players == 4
    assert command.ruleset_config == {}


def test_each_command_gets_its_own_default_config() -> None:
    assert cmd().ruleset_config is not cmd().ruleset_config


def test_omitted_defaults_and_explicit_defaults_have_one_fingerprint() -> None:
    explicit = cmd(visibility="private", max_players=4, ruleset_config={})
    assert cmd().fingerprint() == explicit.fingerprint()


def test_the_fingerprint_ignores_key_order_and_the_enum_spelling() -> None:
    a = cmd(visibility=Visibility.PRIVATE, ruleset_config={"a": 1, "b": {"d": 2, "c": 3}})
    b = cmd(visibility="private", ruleset_config={"b": {"c": 3, "d": 2}, "a": 1})
    assert a.fingerprint() == b.fingerprint()


def test_the_fingerprint_is_of_the_payload_not_of_who_sent_it() -> None:
    """The key (user, request_id) already says who and which; the fingerprint says what."""
    assert cmd().fingerprint() == cmd(user_id=OTHER_USER, request_id=OTHER_REQUEST).fingerprint()


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"max_players": 3}, id="max_players"),
        pytest.param({"ruleset_config": {"turn_s": 30}}, id="ruleset_config"),
        pytest.param({"ruleset_config": {"turn_s": "30"}}, id="ruleset_config-type"),
        pytest.param({"ruleset_id": "poker"}, id="ruleset_id"),
        pytest.param({"visibility": "public"}, id="visibility"),
        pytest.param({"max_players": True, "visibility": 1}, id="bool-is-not-int"),
    ],
)
def test_any_change_of_the_payload_changes_the_fingerprint(changed: dict[str, object]) -> None:
    assert cmd(**changed).fingerprint() != cmd().fingerprint()


def test_the_fingerprint_is_a_stable_sha256_hex_digest() -> None:
    fingerprint = cmd().fingerprint()
    assert len(fingerprint) == 64
    assert int(fingerprint, 16) >= 0
    assert cmd().fingerprint() == fingerprint
