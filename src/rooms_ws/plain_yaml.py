"""Block-style YAML for JSON data, without a YAML library.

Only what JSON can hold is written (dicts with string keys, lists, strings,
numbers, booleans, null), so every YAML 1.1 and 1.2 reader loads it back to
the same value. Strings are double-quoted with JSON's escapes, which YAML's
double-quoted style shares, except multi-line text, written as a literal
block so descriptions stay readable. Keys are plain where no reader could
take them for anything but a string (``on``, ``yes``, ``1e3`` are quoted).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

__all__ = ["dump"]

_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.\-]*")
# YAML 1.1 reads these as booleans or null when plain.
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}
_INDENT = "  "


def dump(value: object) -> str:
    """``value`` as a YAML document ending in a newline."""
    if isinstance(value, Mapping) and value:
        lines = _mapping(value, 0)
    elif isinstance(value, list | tuple) and value:
        lines = _sequence(value, 0)
    else:
        lines = [_scalar(value, 0)]
    return "\n".join(lines) + "\n"


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"mapping keys must be strings, not {type(key).__name__}")
    if _PLAIN_KEY.fullmatch(key) and key.lower() not in _RESERVED:
        return key
    return _quoted(key)


def _quoted(text: str) -> str:
    """JSON's quoting, with every non-printable character escaped too.

    JSON leaves DEL, NEL, U+2028 and the like as they are; YAML readers refuse
    some of them raw and read others as line breaks.
    """
    quoted = json.dumps(text, ensure_ascii=False)
    if quoted.isprintable():
        return quoted
    return "".join(c if c.isprintable() else _escape(c) for c in quoted)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _mapping(value: Mapping[object, object], depth: int) -> list[str]:
    pad = _INDENT * depth
    lines: list[str] = []
    for key, item in value.items():
        head = f"{pad}{_key(key)}:"
        if isinstance(item, Mapping) and item:
            lines.append(head)
            lines.extend(_mapping(item, depth + 1))
        elif isinstance(item, list | tuple) and item:
            lines.append(head)
            lines.extend(_sequence(item, depth + 1))
        else:
            lines.append(f"{head} {_scalar(item, depth + 1)}")
    return lines


def _sequence(value: Sequence[object], depth: int) -> list[str]:
    pad = _INDENT * depth
    lines: list[str] = []
    for item in value:
        if isinstance(item, Mapping) and item:
            # "- " takes the place of the first key's indentation.
            nested = _mapping(item, depth + 1)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines.extend(nested[1:])
        elif isinstance(item, list | tuple) and item:
            nested = _sequence(item, depth + 1)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines.extend(nested[1:])
        else:
            lines.append(f"{pad}- {_scalar(item, depth + 1)}")
    return lines


def _scalar(value: object, depth: int) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = json.dumps(value, allow_nan=False)
        # YAML 1.1 readers take "1e-05" for a string: a float needs its dot.
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0{e}{exponent}" if e and "." not in mantissa else text
    if isinstance(value, str):
        return _block(value, depth) or _quoted(value)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _block(text: str, depth: int) -> str | None:
    """A literal block for multi-line text, or None where quoting is safer."""
    if "\n" not in text or text.endswith("\n") or text[0] in " \n":
        return None
    if any(not (c.isprintable() or c == "\n") for c in text):
        return None
    pad = _INDENT * depth
    body = "\n".join(f"{pad}{line}" if line else "" for line in text.split("\n"))
    return f"|-\n{body}"
