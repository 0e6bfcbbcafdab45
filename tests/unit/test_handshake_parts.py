"""Tokens, the Origin allow-list, the token bucket and the connection caps (no server)."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from rooms_domain import UserId
from rooms_ws.auth import InvalidToken, TokenVerifier, issue_token, token_from
from rooms_ws.errors import CloseCode
from rooms_ws.origins import OriginPolicy
from rooms_ws.rate_limit import TokenBucket
from rooms_ws.registry import ConnectionRegistry, Refusal

SECRET = "unit-secret-0123456789-0123456789-0123456789"
USER = UserId(uuid.uuid4())


class TestTokens:
    def test_round_trip(self) -> None:
        identity = TokenVerifier(SECRET).verify(issue_token(SECRET, USER, 60))
        assert identity.user_id == USER
        assert identity.expires_at > time.time()

    @pytest.mark.parametrize(
        "token",
        [
            "",
            "garbage",
            "a.b.c",
            issue_token(SECRET, USER, -10),  # expired
            issue_token("another-secret-0123456789-0123456789", USER, 60),  # wrong signature
            jwt.encode({"sub": str(USER)}, SECRET, algorithm="HS256"),  # no exp
            jwt.encode({"exp": time.time() + 60}, SECRET, algorithm="HS256"),  # no sub
            jwt.encode({"sub": "ann", "exp": time.time() + 60}, SECRET, algorithm="HS256"),
            jwt.encode({"sub": str(USER), "exp": time.time() + 60}, SECRET, algorithm="HS512"),
            jwt.encode({"sub": str(USER), "exp": time.time() + 60}, None, algorithm="none"),
        ],
    )
    def test_invalid_tokens(self, token: str) -> None:
        with pytest.raises(InvalidToken):
            TokenVerifier(SECRET).verify(token)

    def test_header_first_then_query(self) -> None:
        assert token_from({"authorization": "Bearer abc"}, {"access_token": "q"}) == "abc"
        assert token_from({"authorization": "bearer  abc "}, {}) == "abc"
        assert token_from({}, {"access_token": "q"}) == "q"

    @pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "abc"])
    def test_a_present_header_must_be_bearer(self, header: str) -> None:
        with pytest.raises(InvalidToken):
            token_from({"authorization": header}, {"access_token": "q"})

    def test_no_token(self) -> None:
        with pytest.raises(InvalidToken):
            token_from({}, {})


class TestOrigins:
    def test_port_wildcards_and_exact_origins(self) -> None:
        policy = OriginPolicy(["http://localhost:*", "https://game.example.com"])
        assert policy.allows(None)
        assert policy.allows("http://localhost:5173")
        assert policy.allows("http://localhost")
        assert policy.allows("HTTP://LOCALHOST:3000")
        assert policy.allows("https://game.example.com")
        assert not policy.allows("https://game.example.com:8443")
        assert not policy.allows("http://localhost.evil.com:80")
        assert not policy.allows("https://localhost:5173")
        assert not policy.allows("null")
        assert not policy.allows("http://evil.com")

    def test_empty_list_refuses_every_browser(self) -> None:
        assert not OriginPolicy([]).allows("http://localhost:8000")
        assert OriginPolicy([]).allows(None)

    def test_star_allows_all(self) -> None:
        assert OriginPolicy(["*"]).allows("https://anything.example")


class TestTokenBucket:
    def test_burst_then_rate(self) -> None:
        now = [0.0]
        bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
        assert [bucket.take() for _ in range(4)] == [True, True, True, False]
        assert bucket.strikes == 1
        now[0] += 0.5  # one token back at 2/s
        assert bucket.take()
        assert bucket.strikes == 0
        assert not bucket.take()
        now[0] += 100  # never more than the burst
        assert sum(bucket.take() for _ in range(10)) == 3


class FakeConnection:
    def __init__(self) -> None:
        self.closed_with: CloseCode | None = None

    def request_close(self, code: CloseCode, *, flush: bool) -> None:
        self.closed_with = code


class TestRegistry:
    def test_caps(self) -> None:
        registry = ConnectionRegistry(max_connections=3, max_per_user=2)
        ann, bob = UserId(uuid.uuid4()), UserId(uuid.uuid4())
        assert registry.reserve(ann) is None
        assert registry.reserve(ann) is None
        assert registry.reserve(ann) is Refusal.USER_LIMIT
        assert registry.reserve(bob) is None
        assert registry.reserve(bob) is Refusal.SERVER_FULL
        registry.release(ann, None)
        assert registry.reserve(bob) is None
        assert int(Refusal.USER_LIMIT) == 429 and int(Refusal.SERVER_FULL) == 503

    async def test_drain_closes_with_1012_and_refuses_newcomers(self) -> None:
        registry = ConnectionRegistry(max_connections=3, max_per_user=2)
        ann = UserId(uuid.uuid4())
        assert registry.reserve(ann) is None
        connection = FakeConnection()
        registry.attach(connection)
        assert not await registry.drain(0.05)
        assert connection.closed_with is CloseCode.SERVICE_RESTART
        assert registry.reserve(ann) is Refusal.SERVER_FULL
        registry.release(ann, connection)
        assert await registry.drain(0.05)
