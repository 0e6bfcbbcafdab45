"""Looking at a running ``rooms serve`` from outside: its memory, metrics and log lines."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness.server import rss_bytes as rss_bytes  # the tests import it from here


def scrape(port: int) -> dict[str, float]:
    """Every sample of a metrics listener, keyed like ``name{label="value",...}``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def log_records(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a server log (anything else, e.g. a crash dump, is skipped)."""
    records = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


# The header form of a credential, whoever's it is (a token no test issued
# included): "Bearer " and a value, not blanked by the server's log filter.
# (Not an auth-param of a challenge: Bearer error="invalid_token".)
BEARER_VALUE = re.compile(r"(?i)\bbearer\s+(?!\[redacted\])(?![\w-]+=)[\w\-.~+/]{16,}")


def token_signature(token: str) -> str:
    """The part of a JWT that makes it a credential: whoever logs it can replay it."""
    return token.rsplit(".", 1)[-1]


def assert_log_clean(text: str, *, tokens: list[str], markers: list[str]) -> None:
    """No token signature and no marker (a string only ever sent inside payloads) in ``text``."""
    for token in tokens:
        assert token_signature(token) not in text, "a token signature reached the log"
    assert not BEARER_VALUE.search(text), "a bearer token reached the log"
    for marker in markers:
        assert marker not in text, f"a payload marker reached the log: {marker!r}"


def leaks_in(logs: Iterable[Path], *, tokens: list[str], markers: list[str]) -> list[str]:
    """``"path: what"`` for every log holding a token signature or a marker."""
    signatures = {token_signature(t) for t in tokens}
    leaks = []
    for path in logs:
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            continue  # a server that never started
        if any(signature in text for signature in signatures):
            leaks.append(f"{path}: a token signature")
        if BEARER_VALUE.search(text):
            leaks.append(f"{path}: a bearer token")
        leaks.extend(f"{path}: marker {m!r}" for m in markers if m in text)
    return leaks
