"""Handshake authentication: a HS256 JWT whose ``sub`` is a user's UUID (docs/protocol.md).

Only the signature and the claims are checked here; whether ``sub`` is a row
of ``users`` needs the database and is the endpoint's next step.

A refusal says why in three words a client may act on (``expired``: get a
fresh token; ``invalid``: fix how tokens are made; ``unknown_user``: the
account is gone), sent back in ``WWW-Authenticate``; the detail behind it
(which check failed) is for the server's log only.
"""

from __future__ import annotations

import math
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from rooms_domain.model import UserId

ALGORITHM = "HS256"
# The NumericDate claims, as RFC 7519 defines them: numbers, never strings.
TIME_CLAIMS = ("exp", "iat", "nbf")
# 9999-12-31T23:59:59Z: beyond it a "date" is an attack on the arithmetic
# (exp = 10**400 overflowed a float and answered 500), not a date.
MAX_NUMERIC_DATE = 253_402_300_799

# PyJWT warns on every call with a key shorter than the hash; the operator is
# warned once at start instead (cli.serve), not once per handshake.
warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)


class Rejection(StrEnum):
    """What a client is told about a refused token (``error_description``)."""

    EXPIRED = "the token has expired"
    INVALID = "the token is invalid"
    UNKNOWN_USER = "the token's user is unknown"
    MISSING = "no token was sent (Authorization header, or query parameter)"


class InvalidToken(Exception):
    """Missing, malformed, expired or wrongly signed token; the reason is for logs only."""

    def __init__(self, reason: str, rejection: Rejection = Rejection.INVALID) -> None:
        super().__init__(reason)
        self.rejection = rejection


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: UserId
    expires_at: float  # seconds since the epoch: `exp` plus the leeway


def token_from(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """The token of ``Authorization: Bearer`` or, for browsers, ``?access_token=``.

    A header that is present wins: a client that sends one means it, and a
    wrong one must not be rescued by a stale token in a URL.
    """
    header = headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("Authorization header is not 'Bearer <token>'")
        return token.strip()
    from_query = query.get("access_token")
    if not from_query:
        raise InvalidToken("no token", Rejection.MISSING)
    return from_query


class TokenVerifier:
    def __init__(self, secret: str, *, leeway_s: float = 0) -> None:
        self._secret = secret
        # Clocks of the issuer and of this server disagree by a few seconds:
        # without leeway a token minted by a clock 2 s ahead is "not yet valid".
        self._leeway_s = leeway_s

    def verify(self, token: str) -> Identity:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # pinned: never let the token choose
                options={"require": ["exp", "sub"]},
                leeway=self._leeway_s,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("ExpiredSignatureError", Rejection.EXPIRED) from None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as exc:
            # PyJWT converts the time claims with int(): what it cannot
            # convert must be a refusal, never a 500.
            raise InvalidToken(type(exc).__name__) from None
        for name in TIME_CLAIMS:
            if name in claims and not _numeric_date(claims[name]):
                raise InvalidToken(f"{name} is not a NumericDate")
        try:
            user_id = UserId(uuid.UUID(claims["sub"]))
        except (TypeError, ValueError, AttributeError):
            raise InvalidToken("sub is not a UUID") from None
        return Identity(user_id, float(claims["exp"]) + self._leeway_s)


def _numeric_date(value: object) -> bool:
    # PyJWT would take "4102444800" (a string) or True (a bool) through int().
    if type(value) is int:
        return 0 <= value <= MAX_NUMERIC_DATE
    if type(value) is float:
        return math.isfinite(value) and 0 <= value <= MAX_NUMERIC_DATE
    return False


def issue_token(secret: str, user_id: UserId, ttl_s: int, *, now: float | None = None) -> str:
    """A signed access token for ``user_id``, valid ``ttl_s`` seconds (for the CLI and tests)."""
    issued = int(time.time() if now is None else now)
    claims = {"sub": str(user_id), "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
