"""Tokens, the Origin allow-list, the token bucket and the connection caps (no server)."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from rooms_domain import UserId
from rooms_ws.auth import InvalidToken, Rejection, TokenVerifier, issue_token, token_from
from rooms_ws.errors import CloseCode
from rooms_ws.origins import OriginPolicy
from rooms_ws.rate_limit import KeyedBudget, TokenBucket
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

    def test_a_clock_ahead_or_behind_within_the_leeway_is_forgiven(self) -> None:
        verifier = TokenVerifier(SECRET, leeway_s=30)
        ahead = issue_token(SECRET, USER, 60, now=time.time() + 2)  # iat 2 s in the future
        assert verifier.verify(ahead).user_id == USER
        assert verifier.verify(_signed(nbf=time.time() + 20, exp=time.time() + 600))
        expired_lately = issue_token(SECRET, USER, -10)
        # Accepted, and the connection's expiry timer counts the leeway too.
        assert verifier.verify(expired_lately).expires_at > time.time()
        for token in (
            issue_token(SECRET, USER, -60),
            _signed(nbf=time.time() + 60, exp=time.time() + 600),
            _signed(iat=time.time() + 60, exp=time.time() + 600),
        ):
            with pytest.raises(InvalidToken):
                verifier.verify(token)

    def test_no_leeway_refuses_a_token_from_a_clock_two_seconds_ahead(self) -> None:
        ahead = issue_token(SECRET, USER, 60, now=time.time() + 2)
        with pytest.raises(InvalidToken):
            TokenVerifier(SECRET).verify(ahead)

    @pytest.mark.parametrize(
        "claims",
        [
            {"exp": 10**400},
            {"exp": 4102444800, "iat": 10**400},
            {"exp": 4102444800, "nbf": -(10**400)},
            {"exp": "4102444800"},
            {"exp": 4102444800, "iat": "0"},
            {"exp": 4102444800, "nbf": "0"},
            {"exp": True},
            {"exp": 4102444800.0, "iat": None},
            {"exp": [4102444800]},
            {"exp": 253402300800},  # year 10000
        ],
    )
    def test_time_claims_are_numbers_of_a_sane_size(self, claims: dict[str, object]) -> None:
        token = _signed(**claims)
        with pytest.raises(InvalidToken):
            TokenVerifier(SECRET, leeway_s=30).verify(token)

    def test_huge_numbers_written_as_json_floats_are_refused(self) -> None:
        # 1e400 reads as infinity, -1e400 as its opposite, NaN as NaN.
        for raw in ("1e400", "-1e400", "NaN"):
            body = f'{{"sub": "{USER}", "exp": {raw}}}'
            token = jwt.api_jws.encode(body.encode(), SECRET, algorithm="HS256")
            with pytest.raises(InvalidToken):
                TokenVerifier(SECRET).verify(token)

    def test_what_a_refused_client_is_told(self) -> None:
        verifier = TokenVerifier(SECRET)
        with pytest.raises(InvalidToken) as expired:
            verifier.verify(issue_token(SECRET, USER, -10))
        assert expired.value.rejection is Rejection.EXPIRED
        with pytest.raises(InvalidToken) as forged:
            verifier.verify(issue_token("another-secret-0123456789-0123456789", USER, 60))
        assert forged.value.rejection is Rejection.INVALID
        with pytest.raises(InvalidToken) as missing:
            token_from({}, {})
        assert missing.value.rejection is Rejection.MISSING

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


def _signed(**claims: object) -> str:
    return jwt.encode({"sub": str(USER), **claims}, SECRET, algorithm="HS256")


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


class TestCreateBudget:
    def test_per_key_per_minute_refilled_over_the_minute(self) -> None:
        now = [0.0]
        budget: KeyedBudget[str] = KeyedBudget(3, clock=lambda: now[0])
        assert [budget.take("ann") for _ in range(4)] == [True, True, True, False]
        assert budget.take("bob")  # another user's budget is their own
        now[0] += 20.0  # a third of a minute: one create back
        assert budget.take("ann")
        assert not budget.take("ann")

    def test_a_replay_is_given_back(self) -> None:
        now = [0.0]
        budget: KeyedBudget[str] = KeyedBudget(1, clock=lambda: now[0])
        assert budget.take("ann")
        budget.give_back("ann")
        assert budget.take("ann")
        assert not budget.take("ann")

    def test_idle_keys_are_forgotten_so_memory_stays_bounded(self) -> None:
        now = [0.0]
        budget: KeyedBudget[int] = KeyedBudget(30, clock=lambda: now[0])
        for user in range(100_000):
            now[0] += 0.01  # 100 new users a second, each creating once
            budget.take(user)
        # Only the users of the last minute are remembered.
        assert len(budget) <= 60 * 100 + 1
        now[0] += 61.0
        budget.take(-1)
        assert len(budget) == 1


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
