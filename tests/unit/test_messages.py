"""Wire models: the frame funnel, and a payload read into its command (contract §3-4), no server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from rooms_domain import CreateRoomCommand, RoomSettings, UserId, ValidationFailed
from rooms_ws.errors import ErrorCode
from rooms_ws.messages import (
    FrameRejected,
    RequestEnvelope,
    error_reply,
    parse_frame,
    peek_request_id,
    reply,
)

RID = "6f1c1c2e-8d1b-4a64-9d1e-0c3a4f8b2a11"
USER = UserId(uuid.UUID("00000000-0000-4000-8000-000000000001"))


def frame(payload: Any = None, **envelope: Any) -> str:
    message: dict[str, Any] = {"type": "create_room", "request_id": RID}
    if payload is not None:
        message["payload"] = payload
    message.update(envelope)
    return json.dumps(message)


def rejected(text: str | None, data: bytes | None = None) -> FrameRejected:
    with pytest.raises(FrameRejected) as caught:
        parse_frame(text, data)
    return caught.value


def command_of(envelope: RequestEnvelope) -> CreateRoomCommand:
    """What the session does with a create_room envelope."""
    return CreateRoomCommand.from_payload(USER, envelope.request_uuid, envelope.payload)


def settings_of(payload: object) -> RoomSettings:
    return command_of(parse_frame(frame(payload))).settings


def problems(payload: object) -> list[tuple[str, str]]:
    envelope = parse_frame(frame(payload))
    with pytest.raises(ValidationFailed) as caught:
        command_of(envelope)
    return [(p.field, p.problem) for p in caught.value.problems]


class TestFrames:
    def test_a_valid_frame_keeps_the_request_id_as_sent(self) -> None:
        envelope = parse_frame(frame({"ruleset_id": "classic"}, request_id=RID.upper()))
        assert envelope.request_id == RID.upper()
        assert envelope.request_uuid == uuid.UUID(RID)
        assert envelope.type == "create_room"

    @pytest.mark.parametrize(
        "text",
        [
            "not json",
            "",
            "[NaN]",
            '{"a": Infinity}',
            '{"a": -Infinity}',
            '{"a": NaN}',
            '"\\ud800"',
            "[" * 5000 + "]" * 5000,
            '{"type": "create_room", "request_id": "' + RID + '"',  # truncated
        ],
    )
    def test_not_json_is_a_bad_message_without_request_id(self, text: str) -> None:
        failure = rejected(text)
        assert failure.error.code is ErrorCode.BAD_MESSAGE
        assert failure.request_id is None

    def test_binary_frames_are_bad_messages(self) -> None:
        failure = rejected(None, frame({"ruleset_id": "classic"}).encode())
        assert failure.error.code is ErrorCode.BAD_MESSAGE

    @pytest.mark.parametrize("text", ["[]", "1", '"create_room"', "null", "true", "[{}]"])
    def test_a_non_object_is_a_bad_message(self, text: str) -> None:
        assert rejected(text).error.code is ErrorCode.BAD_MESSAGE

    @pytest.mark.parametrize(
        "request_id",
        [None, "", "abc", 12, True, "6f1c1c2e8d1b4a649d1e0c3a4f8b2a11", ["x"], "{" + RID + "}"],
    )
    def test_a_missing_or_non_uuid_request_id_is_a_bad_message(self, request_id: object) -> None:
        message: dict[str, Any] = {"type": "create_room", "payload": {"ruleset_id": "classic"}}
        if request_id is not None:
            message["request_id"] = request_id
        failure = rejected(json.dumps(message))
        assert failure.error.code is ErrorCode.BAD_MESSAGE
        assert failure.request_id is None

    @pytest.mark.parametrize("type_", [None, 1, True, {"a": 1}, ["create_room"]])
    def test_a_missing_or_non_string_type_echoes_a_readable_request_id(self, type_: object) -> None:
        message: dict[str, Any] = {"request_id": RID, "payload": {}}
        if type_ is not None:
            message["type"] = type_
        failure = rejected(json.dumps(message))
        assert failure.error.code is ErrorCode.BAD_MESSAGE
        assert failure.request_id == RID
        assert [d.field for d in failure.error.details] == ["type"]

    @pytest.mark.parametrize(
        "number",
        ["123456789012345678901234567890", "-9223372036854775809", "1e300", "9223372036854775808"],
    )
    def test_huge_numbers_are_bad_messages(self, number: str) -> None:
        text = frame().replace("}", f', "payload": {{"ruleset_id": "classic", "x": {number}}}}}')
        failure = rejected(text)
        assert failure.error.code is ErrorCode.BAD_MESSAGE
        assert failure.request_id == RID

    def test_nesting_deeper_than_orjson_reads_is_a_bad_message(self) -> None:
        config = '{"a":' * 1100 + "1" + "}" * 1100
        text = frame({"ruleset_id": "classic", "ruleset_config": "C"}).replace('"C"', config)
        failure = rejected(text)
        assert failure.error.code is ErrorCode.BAD_MESSAGE

    def test_deep_or_nul_values_pass_the_frame_and_the_domain_judges_them(self) -> None:
        # The depth of a config and U+0000 in it are rules of the domain, checked
        # once there: the frame passes, and the payload is validation_failed.
        deep: object = {}
        for _ in range(900):  # fits in 4 KiB, and deep enough to blow careless recursion
            deep = {"a": deep}
        for config in (deep, {"a": "x\u0000"}, {"k\u0000": 1}):
            assert problems({"ruleset_id": "classic", "ruleset_config": config}) == [
                ("ruleset_config", "must hold only JSON values, nested at most 64 deep")
            ]
        shallow: object = 1
        for _ in range(60):
            shallow = [shallow]
        config = {"a": shallow}
        assert (
            settings_of({"ruleset_id": "classic", "ruleset_config": config}).ruleset_config
            == config
        )

    def test_a_deep_value_in_an_unknown_field_is_only_an_unknown_field(self) -> None:
        deep = "[" * 1000 + "]" * 1000
        text = frame({"ruleset_id": "classic", "x": "D"}).replace('"D"', deep)
        with pytest.raises(ValidationFailed) as caught:
            command_of(parse_frame(text))
        assert [(p.field, p.problem) for p in caught.value.problems] == [
            ("x", "is not a field of create_room")
        ]
        failure = rejected(frame({"ruleset_id": "classic"}, extra="D").replace('"D"', deep))
        assert failure.error.code is ErrorCode.BAD_MESSAGE

    def test_unknown_envelope_fields_are_bad_messages(self) -> None:
        failure = rejected(frame({"ruleset_id": "classic"}, extra=1))
        assert failure.error.code is ErrorCode.BAD_MESSAGE
        assert failure.request_id == RID

    def test_an_unknown_type_passes_the_envelope(self) -> None:
        # unknown_type is the dispatcher's verdict, after the envelope.
        assert parse_frame(frame({}, type="join_room")).type == "join_room"

    def test_peek_reads_only_a_valid_request_id(self) -> None:
        assert peek_request_id(frame()) == RID
        assert peek_request_id('{"request_id": "x"}') is None
        assert peek_request_id("garbage") is None
        assert peek_request_id(None) is None


class TestCreateRoomPayload:
    def test_defaults(self) -> None:
        settings = settings_of({"ruleset_id": "classic"})
        assert settings.visibility == "private"
        assert settings.max_players == 4
        assert settings.ruleset_config == {}

    @pytest.mark.parametrize("players", [2, 3, 4])
    def test_player_counts(self, players: int) -> None:
        assert settings_of({"ruleset_id": "classic", "max_players": players}).max_players == players

    @pytest.mark.parametrize("players", [True, False, "4", 3.0, 2.5, 1, 5, 0, -1, None, [4], {}])
    def test_max_players_must_be_a_json_integer_from_2_to_4(self, players: object) -> None:
        assert problems({"ruleset_id": "classic", "max_players": players}) == [
            ("max_players", "must be an integer from 2 to 4")
        ]

    @pytest.mark.parametrize("visibility", ["public", "PRIVATE", "", None, 1, True])
    def test_visibility_must_be_private(self, visibility: object) -> None:
        assert problems({"ruleset_id": "classic", "visibility": visibility}) == [
            ("visibility", 'must be "private"')
        ]

    @pytest.mark.parametrize("ruleset", ["Classic", "", "modern", 1, None, ["classic"]])
    def test_ruleset_id_must_be_classic(self, ruleset: object) -> None:
        assert problems({"ruleset_id": ruleset}) == [("ruleset_id", 'must be "classic"')]

    def test_ruleset_id_is_required(self) -> None:
        assert problems({}) == [("ruleset_id", "is required")]

    @pytest.mark.parametrize("config", [[], "x", 1, None, True])
    def test_ruleset_config_must_be_an_object(self, config: object) -> None:
        assert problems({"ruleset_id": "classic", "ruleset_config": config}) == [
            ("ruleset_config", "must be a JSON object")
        ]

    def test_ruleset_config_of_4_kib_fits_and_one_byte_more_does_not(self) -> None:
        # {"k":"..."} is 8 bytes of framing around the value.
        fits = {"k": "x" * (4096 - 8)}
        assert settings_of({"ruleset_id": "classic", "ruleset_config": fits}).ruleset_config == fits
        too_big = {"k": "x" * (4096 - 7)}
        assert problems({"ruleset_id": "classic", "ruleset_config": too_big}) == [
            ("ruleset_config", "must be at most 4096 bytes as compact JSON")
        ]

    def test_unknown_fields_are_validation_failures(self) -> None:
        assert problems({"ruleset_id": "classic", "colour": "red"}) == [
            ("colour", "is not a field of create_room")
        ]

    def test_every_broken_rule_is_one_detail(self) -> None:
        found = problems(
            {
                "visibility": "public",
                "max_players": True,
                "ruleset_id": "x",
                "ruleset_config": [],
                "extra": 1,
            }
        )
        assert [field for field, _ in found] == [
            "visibility",
            "max_players",
            "ruleset_id",
            "ruleset_config",
            "extra",
        ]

    def test_a_payload_that_is_not_an_object_or_missing(self) -> None:
        assert problems([1]) == [("payload", "must be a JSON object")]
        envelope = parse_frame(json.dumps({"type": "create_room", "request_id": RID}))
        with pytest.raises(ValidationFailed) as caught:
            command_of(envelope)
        assert [(p.field, p.problem) for p in caught.value.problems] == [("payload", "is required")]
        null = {"type": "create_room", "request_id": RID, "payload": None}
        null_payload = parse_frame(json.dumps(null))
        with pytest.raises(ValidationFailed) as caught:
            command_of(null_payload)
        assert [(p.field, p.problem) for p in caught.value.problems] == [
            ("payload", "must be a JSON object")
        ]


class TestReplies:
    def test_error_shape(self) -> None:
        from rooms_domain.errors import Problem
        from rooms_ws.errors import WireError

        error = WireError(ErrorCode.VALIDATION_FAILED, "bad", (Problem("max_players", "no"),))
        assert json.loads(error_reply(error, RID).text) == {
            "type": "error",
            "request_id": RID,
            "payload": {
                "code": "validation_failed",
                "message": "bad",
                "retryable": False,
                "details": [{"field": "max_players", "problem": "no"}],
            },
        }

    def test_ok_shape_keeps_payload_order(self) -> None:
        payload = {"room_id": "r", "code": "AB12CD", "seat_index": 0, "is_host": True}
        text = reply("create_room_ok", RID, payload).text
        assert text == (
            '{"type":"create_room_ok","request_id":"' + RID + '","payload":'
            '{"room_id":"r","code":"AB12CD","seat_index":0,"is_host":true}}'
        )

    @pytest.mark.parametrize("code", list(ErrorCode))
    def test_written_frames_match_the_models_the_schema_is_built_from(
        self, code: ErrorCode
    ) -> None:
        from rooms_domain.errors import Problem
        from rooms_ws.errors import WireError
        from rooms_ws.messages import ErrorPayload, ServerMessage

        error = WireError(code, "m", (Problem("f", "p"),))
        frame = ServerMessage.model_validate_json(error_reply(error, RID).text)
        ErrorPayload.model_validate(frame.payload, strict=False)
        ok = reply("create_room_ok", None, {"room_id": "r", "code": "AB12CD"}).text
        assert ServerMessage.model_validate_json(ok).request_id is None
