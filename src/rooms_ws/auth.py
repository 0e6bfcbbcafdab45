"""Handshake authentication: a HS256 JWT whose ``sub`` is a user's UUID (contract §2).

Only the signature and the claims are checked here; whether ``sub`` is a row
of ``users`` needs the database and is the endpoint's next step.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from rooms_domain.model import UserId

ALGORITHM = "HS256"

# PyJWT warns on every call with a key shorter than the hash; the operator is
# warned once at start instead (cli.serve), not once per handshake.
warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)


class InvalidToken(Exception):
    """Missing, malformed, expired or wrongly signed token; the reason is for logs only."""


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: UserId
    expires_at: float  # seconds since the epoch, from `exp`


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
        raise InvalidToken("no token")
    return from_query


class TokenVerifier:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def verify(self, token: str) -> Identity:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # pinned: never let the token choose
                options={"require": ["exp", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        sub, exp = claims["sub"], claims["exp"]
        try:
            user_id = UserId(uuid.UUID(sub))
        except (TypeError, ValueError):
            raise InvalidToken("sub is not a UUID") from None
        return Identity(user_id, float(exp))


def issue_token(secret: str, user_id: UserId, ttl_s: int, *, now: float | None = None) -> str:
    """A signed access token for ``user_id``, valid ``ttl_s`` seconds (for the CLI and tests)."""
    issued = int(time.time() if now is None else now)
    claims = {"sub": str(user_id), "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
