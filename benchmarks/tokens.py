"""Access tokens for the benchmark's users, as the contract defines them.

HS256 with the server's secret, ``sub`` = the user's UUID, ``exp`` required:
signing them here instead of calling ``rooms token`` once per user keeps the
set-up of 5,000 users to a fraction of a second.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import jwt

TOKEN_TTL_S = 3600


def sign(secret: str, user_id: uuid.UUID, ttl_s: int = TOKEN_TTL_S) -> str:
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def sign_all(secret: str, user_ids: Sequence[uuid.UUID]) -> list[str]:
    return [sign(secret, user_id) for user_id in user_ids]
