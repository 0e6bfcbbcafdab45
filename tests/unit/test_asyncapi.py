"""docs/asyncapi.yaml: current, valid AsyncAPI 3.0, and true to what the server sends.

The official JSON Schema of AsyncAPI 3.0 comes from the npm package
``@asyncapi/specs`` (fetched once with ``npm pack`` and kept under ``.cache/``).
Without npm or the registry, the validation test is skipped with the reason;
every other test here runs regardless.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from rooms_domain.model import CODE_ALPHABET, CODE_LENGTH, CreateRoomOk, RoomCode, RoomId
from rooms_ws import asyncapi, cli
from rooms_ws.asyncapi import prose
from rooms_ws.asyncapi.schemas import CreateRoomOkPayload
from rooms_ws.errors import RETRYABLE, CloseCode, ErrorCode, WireError
from rooms_ws.messages import error_reply, reply
from tests.integration.ws_support import GOOD_PAYLOAD, INVALID_PAYLOADS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
SPECS_PACKAGE = "@asyncapi/specs"
SPECS_VERSION = "6.11.1"
SPECS_CACHE = ROOT / ".cache" / f"asyncapi-specs-{SPECS_VERSION}"
SCHEMA_FILE = Path("package") / "schemas" / "3.0.0.json"


@pytest.fixture(scope="session")
def asyncapi_3_schema() -> dict[str, Any]:
    """The official AsyncAPI 3.0.0 JSON Schema, from the npm registry (cached)."""
    cached = SPECS_CACHE / SCHEMA_FILE
    if not cached.exists():
        _fetch_specs()
    schema: dict[str, Any] = json.loads(cached.read_text())
    return schema


def _fetch_specs() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed: cannot fetch {SPECS_PACKAGE} to validate against")
    with tempfile.TemporaryDirectory(prefix="asyncapi-specs-") as tmp:
        try:
            packed = subprocess.run(
                [npm, "pack", f"{SPECS_PACKAGE}@{SPECS_VERSION}", "--pack-destination", tmp],
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"the npm registry did not answer: cannot fetch {SPECS_PACKAGE}")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if packed.returncode != 0 or len(tarballs) != 1:
            why = " / ".join(packed.stderr.strip().splitlines()[:2])[:300]
            pytest.skip(
                f"npm pack {SPECS_PACKAGE}@{SPECS_VERSION} failed (registry unreachable?): {why}"
            )
        staging = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(staging, filter="data")
        if not (staging / SCHEMA_FILE).exists():
            raise AssertionError(f"{SPECS_PACKAGE}@{SPECS_VERSION} has no {SCHEMA_FILE}")
        SPECS_CACHE.parent.mkdir(parents=True, exist_ok=True)
        # A rename, so a concurrent or interrupted run never sees half a cache.
        target = Path(tempfile.mkdtemp(dir=SPECS_CACHE.parent, prefix=".incoming-"))
        shutil.move(staging / "package", target / "package")
        try:
            target.rename(SPECS_CACHE)
        except OSError:
            shutil.rmtree(target)  # another run got there first
            if not (SPECS_CACHE / SCHEMA_FILE).exists():
                raise


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi.document()


def schema_validator(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    """A validator for one of the document's schemas, its references resolved in the document."""
    root = {**doc, "$ref": f"#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(root)


# --- the committed file ---------------------------------------------------------------


def test_committed_document_is_current() -> None:
    assert COMMITTED.exists(), f"docs/asyncapi.yaml is missing; generate it: {asyncapi.REGENERATE}"
    assert COMMITTED.read_text() == asyncapi.render_yaml(), (
        f"docs/asyncapi.yaml is stale (the wire models changed); regenerate it: "
        f"{asyncapi.REGENERATE}"
    )


def test_committed_document_loads_as_the_generated_data(doc: dict[str, Any]) -> None:
    assert yaml.safe_load(COMMITTED.read_text()) == doc


def test_document_validates_against_the_official_asyncapi_3_schema(
    asyncapi_3_schema: dict[str, Any],
) -> None:
    committed = yaml.safe_load(COMMITTED.read_text())
    validator = jsonschema.Draft7Validator(asyncapi_3_schema)
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(committed)
    ]
    assert errors == []


def test_the_official_schema_is_not_a_rubber_stamp(asyncapi_3_schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(asyncapi_3_schema)
    broken = asyncapi.document()
    broken["components"]["securitySchemes"]["accessTokenQuery"]["in"] = "body"
    assert not validator.is_valid(broken)


# --- what the document says -----------------------------------------------------------


def test_the_ws_channel_and_both_ways_to_authenticate(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["ws"]["address"] == "/ws"
    schemes = doc["components"]["securitySchemes"]
    assert (schemes["bearerHeader"]["type"], schemes["bearerHeader"]["scheme"]) == (
        "http",
        "bearer",
    )
    assert schemes["accessTokenQuery"]["name"] == "access_token"
    assert schemes["accessTokenQuery"]["in"] == "query"
    assert {s["$ref"] for s in doc["servers"]["rooms"]["security"]} == {
        "#/components/securitySchemes/bearerHeader",
        "#/components/securitySchemes/accessTokenQuery",
    }
    binding = doc["channels"]["ws"]["bindings"]["ws"]
    assert "access_token" in binding["query"]["properties"]
    assert "Authorization" in binding["headers"]["properties"]


def test_the_document_describes_only_what_a_client_sees(doc: dict[str, Any]) -> None:
    # A code generator builds a client of every server and channel it finds:
    # the servers' own Redis traffic must not be among them.
    assert set(doc["servers"]) == {"rooms"}
    assert set(doc["channels"]) == {"ws"}
    assert {op["channel"]["$ref"] for op in doc["operations"].values()} == {"#/channels/ws"}
    text = asyncapi.render_yaml().lower()
    assert "redis" not in text
    assert "room:{" not in text


def test_room_events_are_typed_as_server_frames_with_no_request_id(doc: dict[str, Any]) -> None:
    assert doc["operations"]["sendRoomEvent"]["action"] == "send"
    validator = schema_validator(doc, "RoomEvent")
    event = {"type": "player_joined", "request_id": None, "payload": {"seat_index": 1}}
    assert validator.is_valid(event)
    refused = [
        {**event, "request_id": prose.EXAMPLE_REQUEST_ID},  # that is a reply
        {**event, "payload": "anything"},
        {"type": "player_joined", "request_id": None},
        {"request_id": None, "payload": {}},
        "anything",
    ]
    for frame in refused:
        assert not validator.is_valid(frame), frame


def test_create_room_replies_with_ok_or_error(doc: dict[str, Any]) -> None:
    operation = doc["operations"]["createRoom"]
    assert operation["action"] == "receive"
    assert operation["reply"]["messages"] == [
        {"$ref": "#/channels/ws/messages/createRoomOk"},
        {"$ref": "#/channels/ws/messages/error"},
    ]


def test_every_error_code_has_an_example_with_its_retryable_flag(doc: dict[str, Any]) -> None:
    examples = doc["components"]["messages"]["error"]["examples"]
    seen = {e["payload"]["payload"]["code"]: e["payload"]["payload"]["retryable"] for e in examples}
    assert seen == {code.value: RETRYABLE[code] for code in ErrorCode}
    assert set(prose.WHEN) == set(ErrorCode)


def test_payload_notes_describe_every_field(doc: dict[str, Any]) -> None:
    fields = doc["components"]["schemas"]["CreateRoomPayload"]["properties"]
    assert set(prose.PAYLOAD_NOTES) == set(fields)


def test_every_close_code_of_the_server_is_described() -> None:
    assert set(prose.CLOSE_CODES) >= set(CloseCode)
    assert set(prose.CLOSE_CODES) - set(CloseCode) <= prose.WEBSOCKET_LAYER_CLOSE_CODES


def test_a_create_room_ok_frame_of_the_server_fits_its_schema(doc: dict[str, Any]) -> None:
    room = CreateRoomOk(RoomId(uuid.uuid4()), RoomCode("ZZ99AA"))
    frame = json.loads(reply("create_room_ok", str(uuid.uuid4()), room.to_payload()).text)
    assert schema_validator(doc, "CreateRoomOk").is_valid(frame)


def test_every_example_validates_against_its_message_schema(doc: dict[str, Any]) -> None:
    for name, message in doc["components"]["messages"].items():
        schema_name = message["payload"]["$ref"].rsplit("/", 1)[1]
        validator = schema_validator(doc, schema_name)
        assert message["examples"], f"{name} has no example"
        for example in message["examples"]:
            errors = [e.message for e in validator.iter_errors(example["payload"])]
            assert errors == [], f"{name}/{example['name']}: {errors}"


@pytest.mark.parametrize("code", list(ErrorCode))
def test_an_error_with_the_wrong_retryable_flag_is_refused(
    doc: dict[str, Any], code: ErrorCode
) -> None:
    frame = json.loads(error_reply(WireError(code, "x"), prose.EXAMPLE_REQUEST_ID).text)
    validator = schema_validator(doc, "Error")
    assert validator.is_valid(frame)
    frame["payload"]["retryable"] = not frame["payload"]["retryable"]
    assert not validator.is_valid(frame)


# Rules JSON Schema cannot state; the field descriptions (PAYLOAD_NOTES) say them.
NOT_IN_JSON_SCHEMA = {
    "float-players",  # JSON Schema counts 3.0 as an integer
    "config-too-big",  # a size limit on the compact JSON text
}


def test_the_request_schema_agrees_with_the_server(doc: dict[str, Any]) -> None:
    validator = schema_validator(doc, "CreateRoomRequest")
    rid = str(uuid.uuid4())
    assert validator.is_valid({"type": "create_room", "request_id": rid, "payload": GOOD_PAYLOAD})
    for case, payload, _ in INVALID_PAYLOADS:
        if case in NOT_IN_JSON_SCHEMA:
            continue
        frame = {"type": "create_room", "request_id": rid, "payload": payload}
        assert not validator.is_valid(frame), case


@given(
    room_id=st.uuids(),
    code=st.text(alphabet=CODE_ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH),
)
def test_every_create_room_ok_payload_fits_the_documented_model(
    room_id: uuid.UUID, code: str
) -> None:
    payload = CreateRoomOk(RoomId(room_id), RoomCode(code)).to_payload()
    # Through JSON, as a client reads it: the model is strict about types.
    assert CreateRoomOkPayload.model_validate_json(json.dumps(payload))


# --- the YAML text ----------------------------------------------------------------


def test_the_yaml_has_no_anchors_and_keeps_text_of_several_lines_readable() -> None:
    text = asyncapi.render_yaml()
    assert "&id" not in text
    assert "*id" not in text
    assert "  description: |-\n    Private rooms" in text


def test_the_json_form_is_the_same_document(
    doc: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert asyncapi.main(["--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == doc


def test_the_rooms_asyncapi_verb_prints_the_committed_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["asyncapi"]) == 0
    assert capsys.readouterr().out == COMMITTED.read_text()
