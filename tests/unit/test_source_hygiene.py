"""What the source tree must never hold again (issue 11's straightening, kept straight)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
SOURCES = sorted(SRC.rglob("*.py"))


def offending(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in SOURCES
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if regex.search(line)
    ]


def test_the_tree_has_sources() -> None:
    assert len(SOURCES) > 50


@pytest.mark.parametrize(
    "pattern",
    [
        # Code cites the protocol the project owns, docs/protocol.md, not a
        # document that lives outside the repository.
        r"contract §|contract\.md|\.\./shared",
        # No private attribute of redis-py (or any library's reader/writer).
        r"\._reader\b|\._writer\b",
    ],
)
def test_no_source_line_matches(pattern: str) -> None:
    assert offending(pattern) == []


def test_yaml_is_written_by_pyyaml_not_by_hand() -> None:
    assert not (SRC / "rooms_ws" / "plain_yaml.py").exists()
