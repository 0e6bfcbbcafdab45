"""``docs/asyncapi.yaml`` as text: YAML through PyYAML, or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from rooms_ws.asyncapi.document import document

REGENERATE = ".venv/bin/rooms asyncapi > docs/asyncapi.yaml"


class _Dumper(yaml.SafeDumper):
    """Block style for text of several lines, so descriptions read as written."""

    def ignore_aliases(self, data: Any) -> bool:
        # The document reuses some dicts; anchors and aliases would only puzzle a reader.
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted style where a literal block cannot hold the text.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render_yaml() -> str:
    """The document as YAML: what ``docs/asyncapi.yaml`` holds."""
    header = (
        "# Generated from the code (rooms_ws.asyncapi); do not edit by hand.\n"
        f"# Regenerate: {REGENERATE}\n"
    )
    body = yaml.dump(document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rooms asyncapi", description="Print the AsyncAPI 3.0 document of the service."
    )
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
    args = parser.parse_args(argv)
    if args.format == "json":
        sys.stdout.write(json.dumps(document(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_yaml())
    return 0
