"""Join codes: six Crockford base32 characters drawn from ``secrets``.

People read codes aloud and type them on phones, so :func:`normalise` accepts
what Crockford's alphabet was designed to forgive (case, I/L for 1, O for 0,
spaces and hyphens) and rejects everything else.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from rooms_domain.model import CODE_ALPHABET, CODE_LENGTH, RoomCode

_TYPO_FIXES = str.maketrans({"I": "1", "L": "1", "O": "0"})

# Codes are shown in large type on stream overlays; a few words must never be
# one. Matching is on the normalised form, so "B00B" also catches "BOOB".
_BLOCKED_WORDS = (
    "ASS",
    "FUCK",
    "SHIT",
    "CUNT",
    "DICK",
    "C0CK",
    "B00B",
    "FAG",
    "NAZ1",
    "SEX",
    "P0RN",
    "KKK",
    "RAPE",
    "TW4T",
    "WANK",
    "SH1T",
    "D1CK",
    "FUK",
    "FCK",
    "N1GG",
    "PUSSY",
)


def normalise(typed: str) -> RoomCode:
    """Turn a code typed by a person into the canonical code, or raise ``ValueError``."""
    cleaned = typed.strip().replace(" ", "").replace("-", "")
    # upper() expands some letters ("ß" -> "SS"), which could make a code of a wrong length.
    if not cleaned.isascii():
        raise ValueError("a room code holds only letters and digits")
    return RoomCode(cleaned.upper().translate(_TYPO_FIXES))


# Words with letters outside the alphabet (U, I, L, O) can never be drawn.
_DRAWABLE_BLOCKED_WORDS = tuple(w for w in _BLOCKED_WORDS if set(w) <= set(CODE_ALPHABET))


def is_blocked(code: str) -> bool:
    """Whether the code contains a word players should never be shown."""
    return any(word in code for word in _DRAWABLE_BLOCKED_WORDS)


class SecureCodeGenerator:
    """Draws uniformly random codes from ``secrets``, skipping blocked words."""

    def next_code(self) -> RoomCode:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if not is_blocked(code):
                return RoomCode(code)


class ScriptedCodeGenerator:
    """Returns the given codes in order, then falls back to secure draws.

    For tests and tools that need to force a collision.
    """

    def __init__(self, codes: Iterable[str]) -> None:
        self._codes = [RoomCode(c) for c in codes]
        self._fallback = SecureCodeGenerator()
        self.drawn = 0

    def next_code(self) -> RoomCode:
        self.drawn += 1
        if self._codes:
            return self._codes.pop(0)
        return self._fallback.next_code()
