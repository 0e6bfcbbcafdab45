"""docs/protocol.md against the code: every part of the prose that mirrors the code.

The error table (§5) lists exactly the server's error codes with their
``retryable`` flag and the ``when`` text of the AsyncAPI document; the close
code table (§8) exactly the codes the server closes with; §10 the fields and
defaults of create_room's schema. Every example frame is one the server reads
(a request) or one its schemas accept (a reply or an event), and example
replies carry the server's own texts. Every default stated is the setting's.
The section headings are pinned: code comments cite them by number.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rooms_ws import asyncapi
from rooms_ws.asyncapi import examples, prose
from rooms_ws.errors import RETRYABLE, CloseCode, ErrorCode
from rooms_ws.messages import REQUEST_TYPES, parse_frame
from rooms_ws.registry import Refusal
from rooms_ws.settings import Settings

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

# Cited by code comments as "docs/protocol.md §N": renumbering breaks them.
# New sections are appended; these stay as they are.
HEADINGS = [
    "1. Overview",
    "2. Connecting",
    "3. Refused handshakes",
    "4. Envelope",
    "5. Errors",
    "6. Retries and idempotency",
    "7. Limits",
    "8. Close codes",
    "9. Room events",
    "10. create_room",
]

Table = list[dict[str, str]]


def sections() -> dict[int, str]:
    """The text of each ``## N. Title`` section, by N."""
    found: dict[int, str] = {}
    for chunk in re.split(r"^(?=## )", PROTOCOL.read_text(), flags=re.MULTILINE):
        heading = re.match(r"## (\d+)\. ", chunk)
        if heading:
            found[int(heading.group(1))] = chunk
    return found


def tables(text: str) -> list[Table]:
    """Every markdown table of ``text``, as rows keyed by the header's cells."""
    found: list[Table] = []
    block: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if block:
            header, _, *rows = block
            found.append([dict(zip(header, row, strict=True)) for row in rows])
            block = []
    return found


def table_with(text: str, *columns: str) -> Table:
    matching = [t for t in tables(text) if t and set(columns) <= set(t[0])]
    assert len(matching) == 1, f"expected one table with columns {columns}, found {len(matching)}"
    return matching[0]


def plain(cell: str) -> str:
    return cell.replace("`", "")


def frames(text: str) -> list[dict[str, Any]]:
    blocks = re.findall(r"^```json\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_the_sections_keep_their_numbers() -> None:
    headings = re.findall(r"^## (.+)$", PROTOCOL.read_text(), flags=re.MULTILINE)
    assert headings[: len(HEADINGS)] == HEADINGS
    numbers = [int(h.split(".", 1)[0]) for h in headings]
    assert numbers == list(range(1, len(numbers) + 1))


def test_the_error_table_is_the_servers() -> None:
    rows = table_with(sections()[5], "code", "retryable", "when")
    documented = {plain(row["code"]): row["retryable"] for row in rows}
    assert documented == {code.value: str(RETRYABLE[code]).lower() for code in ErrorCode}
    for row in rows:
        # One text for both documents: the AsyncAPI file says the same.
        assert plain(row["when"]) == prose.WHEN[ErrorCode(plain(row["code"]))], row["code"]


def test_every_error_code_has_an_example_frame_with_its_retryable_flag() -> None:
    examples = [f for f in frames(sections()[5]) if f["type"] == "error"]
    shown = {f["payload"]["code"]: f["payload"]["retryable"] for f in examples}
    assert shown == {code.value: RETRYABLE[code] for code in ErrorCode}


def test_the_close_code_table_is_the_servers() -> None:
    rows = table_with(sections()[8], "code", "meaning", "the client should")
    documented = {
        int(row["code"]): (plain(row["meaning"]), plain(row["the client should"])) for row in rows
    }
    assert documented == prose.CLOSE_CODES
    assert set(documented) >= set(CloseCode)


def test_every_refusal_of_the_handshake_is_listed() -> None:
    rows = table_with(sections()[3], "status", "why")
    assert {int(row["status"]) for row in rows} >= {int(r) for r in Refusal} | {404}


# "`ROOMS_X` (8)", "`ROOMS_X` (default 30)", "`ROOMS_X` (16384 bytes)", and the pairs
# "`ROOMS_A` / `ROOMS_B` (20 / 40)" of the limits table.
SETTING = re.compile(r"`ROOMS_(\w+)` \((?:default )?(\d[\d.]*)\b(?! /)")
SETTING_PAIR = re.compile(r"`ROOMS_(\w+)` / `ROOMS_(\w+)` \((\d[\d.]*) / (\d[\d.]*)\)")


def test_every_default_stated_is_the_settings_default() -> None:
    text = PROTOCOL.read_text()
    stated = [(name, value) for name, value in SETTING.findall(text)]
    for first, second, one, two in SETTING_PAIR.findall(text):
        stated += [(first, one), (second, two)]
    checked = set()
    for name, value in stated:
        field = Settings.model_fields.get(name.lower())
        if field is None:
            continue  # a setting of a part not merged on this branch yet
        assert float(value) == field.default, f"ROOMS_{name}: {value} != {field.default}"
        checked.add(name)
    assert len(checked) >= 5, checked


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi.document()


def test_every_example_frame_is_one_the_server_reads_or_writes(document: dict[str, Any]) -> None:
    # Each reply and event the document names, by its type; any other type is a RoomEvent.
    schema_of = {
        message["name"]: message["payload"]["$ref"].rsplit("/", 1)[1]
        for message in document["components"]["messages"].values()
    }
    examples = frames(PROTOCOL.read_text())
    assert len(examples) >= 12
    for frame in examples:
        if frame["type"] in REQUEST_TYPES:
            parse_frame(json.dumps(frame))  # raises if the envelope is not one the server reads
            continue
        name = schema_of.get(frame["type"], "RoomEvent")
        validator = jsonschema.Draft202012Validator(
            {**document, "$ref": f"#/components/schemas/{name}"}
        )
        errors = [e.message for e in validator.iter_errors(frame)]
        assert errors == [], f"{frame}: {errors}"


def test_create_room_states_the_fields_and_defaults_of_the_document(
    document: dict[str, Any],
) -> None:
    schema = document["components"]["schemas"]["CreateRoomPayload"]
    rows = table_with(sections()[10], "field", "rule", "default")
    documented = {plain(row["field"]): plain(row["default"]) for row in rows}
    expected = {
        name: "required" if name in schema["required"] else json.dumps(field["default"])
        for name, field in schema["properties"].items()
    }
    assert documented == expected


def test_the_errors_of_a_request_are_error_codes() -> None:
    rows = table_with(sections()[10], "code", "when")
    assert {plain(row["code"]) for row in rows} <= {code.value for code in ErrorCode}


def test_the_example_replies_carry_the_servers_own_texts() -> None:
    shown = frames(PROTOCOL.read_text())
    for frame in shown:
        if frame["type"] == "error":
            code = ErrorCode(frame["payload"]["code"])
            assert frame["payload"]["message"] == examples.error(code)["payload"]["message"]
        elif frame["type"] == "create_room_ok":
            assert frame == examples.create_room_ok()
