"""A real ``rooms serve`` on PostgreSQL and Redis, driven by real WebSocket clients.

One server and one database for the module; each test works with users of
its own, so "nothing was written" is checked per user.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
import redis.asyncio as aioredis
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus

from tests.contracts.live_state import META_FIELDS
from tests.integration.fullstack import add_user
from tests.integration.server_probe import assert_log_clean
from tests.integration.server_process import (
    ServerProcess,
    fetch,
    server_env,
)
from tests.integration.ws_support import (
    INVALID_PAYLOADS,
    ISSUED_TOKENS,
    MALFORMED_FRAMES,
    PAYLOAD_MARKER,
    SECRET,
    answer,
    ask,
    client,
    close_code,
    create_room,
    refusal_status,
    replayed_create,
    token_for,
)

ORIGIN = "https://game.example"


@pytest.fixture(scope="module")
def server(
    module_database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    cwd = tmp_path_factory.mktemp("server")
    # At debug level, where every library says the most: the log sweep at the
    # end of this module (and of the run) must still find no token and no payload.
    env = server_env(
        module_database_url,
        redis_url,
        cwd / "data",
        ROOMS_ALLOWED_ORIGINS=ORIGIN,
        ROOMS_LOG_LEVEL="debug",
    )
    running = ServerProcess(env, cwd)
    try:
        yield running.wait_ready()
    finally:
        running.stop()


@pytest.fixture
async def make_user(module_database_url: str) -> Any:
    async def make(name: str = "Ann") -> uuid.UUID:
        return await add_user(module_database_url, name)

    return make


@pytest.fixture
async def forget_rooms(module_database_url: str, redis: aioredis.Redis) -> AsyncIterator[None]:
    """Delete the Redis keys of rooms created by the test (the Redis may be shared)."""
    before = {r["room_id"] for r in await fetch(module_database_url, "SELECT room_id FROM rooms")}
    yield
    after = {r["room_id"] for r in await fetch(module_database_url, "SELECT room_id FROM rooms")}
    for room_id in after - before:
        await redis.delete(f"room:{room_id}:meta", f"room:{room_id}:seats")


async def written_by(dsn: str, user_id: uuid.UUID) -> tuple[int, int]:
    rooms = await fetch(dsn, "SELECT 1 FROM rooms WHERE owner_user_id = $1", user_id)
    keys = await fetch(dsn, "SELECT 1 FROM ws_idempotency WHERE user_id = $1", user_id)
    return len(rooms), len(keys)


class TestHandshake:
    async def test_refusals(
        self, server: ServerProcess, make_user: Any, module_database_url: str
    ) -> None:
        user = await make_user()
        url = server.url
        assert await refusal_status(url, None) == 401
        assert await refusal_status(url, "not-a-jwt") == 401
        assert await refusal_status(url, token_for(user, ttl_s=-120)) == 401
        assert await refusal_status(url, token_for(user, secret="x" * 48)) == 401
        no_sub = jwt.encode({"exp": 4102444800}, SECRET, algorithm="HS256")
        assert await refusal_status(url, no_sub) == 401
        assert await refusal_status(url, token_for(uuid.uuid4())) == 401  # not a user
        assert await refusal_status(url, token_for(user), origin="https://evil.example") == 403
        assert await refusal_status(url, token_for(user), origin=ORIGIN) is None
        assert await refusal_status(url, token_for(user), via_query=True) is None
        assert await written_by(module_database_url, user) == (0, 0)

    async def test_a_refusal_says_why_in_www_authenticate(
        self, server: ServerProcess, make_user: Any
    ) -> None:
        user = await make_user()
        invalid = 'Bearer error="invalid_token", error_description="the token is invalid"'
        cases = [
            (None, 'Bearer error_description="no token was sent'),
            (
                token_for(user, ttl_s=-120),
                'Bearer error="invalid_token", error_description="the token has expired"',
            ),
            (token_for(user, secret="x" * 48), invalid),
            ("not-a-jwt", invalid),
            (
                token_for(uuid.uuid4()),
                'Bearer error="invalid_token", error_description="the token\'s user is unknown"',
            ),
        ]
        for token, challenge in cases:
            status, headers = await refusal(server.url, token)
            assert status == 401
            assert headers["WWW-Authenticate"].startswith(challenge), headers
        status, headers = await refusal(server.url, token_for(user), origin="https://evil.example")
        assert status == 403 and "WWW-Authenticate" not in headers

    async def test_a_clock_a_little_ahead_or_behind_is_forgiven(
        self, server: ServerProcess, make_user: Any
    ) -> None:
        user = await make_user()
        now = time.time()
        for claims in (
            {"iat": now + 2, "exp": now + 600},  # issued by a clock 2 s ahead
            {"nbf": now + 10, "exp": now + 600},
            {"exp": now - 10},  # expired 10 s ago, by a clock 10 s behind
        ):
            token = signed({"sub": str(user), **claims})
            assert await refusal_status(server.url, token) is None, claims
        for claims in ({"iat": now + 120, "exp": now + 600}, {"exp": now - 120}):
            assert await refusal_status(server.url, signed({"sub": str(user), **claims})) == 401

    async def test_time_claims_that_are_not_sane_numbers_are_401_not_500(
        self, server: ServerProcess, make_user: Any
    ) -> None:
        user = str(await make_user())
        for claims in (
            {"exp": 10**400},
            {"exp": "4102444800"},
            {"exp": 4102444800, "iat": "0"},
            {"exp": 4102444800, "nbf": 10**400},
            {"exp": True},
        ):
            assert await refusal_status(server.url, signed({"sub": user, **claims})) == 401
        assert "Traceback" not in server.log()

    async def test_per_user_cap(self, server: ServerProcess, make_user: Any) -> None:
        user = await make_user()
        async with contextlib_stack(server.url, token_for(user), 8):
            assert await refusal_status(server.url, token_for(user)) == 429


async def test_a_frame_over_65536_bytes_closes_with_1009(
    server: ServerProcess, make_user: Any, module_database_url: str
) -> None:
    user = await make_user()
    async with client(server.url, token_for(user), max_size=None) as ws:
        big = json.dumps(create_room(ruleset_config={"pad": "x" * 70_000}))
        await ws.send(big)
        assert await close_code(ws) == 1009
    assert await written_by(module_database_url, user) == (0, 0)
    async with client(server.url, token_for(user)) as ws:  # the server carries on
        assert (await ask(ws, {"type": "x", "request_id": str(uuid.uuid4())}))["type"] == "error"


def signed(claims: dict[str, Any]) -> str:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    ISSUED_TOKENS.append(token)
    return token


async def refusal(url: str, token: str | None, **kw: Any) -> tuple[int, Headers]:
    """The status and headers of a refused handshake."""
    try:
        async with client(url, token, **kw):
            raise AssertionError("the handshake was accepted")
    except InvalidStatus as exc:
        return exc.response.status_code, exc.response.headers


def contextlib_stack(url: str, token: str, n: int) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def stack() -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as exits:
            for _ in range(n):
                await exits.enter_async_context(client(url, token))
            yield

    return stack()


@pytest.mark.usefixtures("forget_rooms")
class TestCreateRoom:
    async def test_every_row_and_every_field(
        self, server: ServerProcess, make_user: Any, module_database_url: str, redis: aioredis.Redis
    ) -> None:
        user = await make_user("Zoë")
        config = {"deck": "short", "timer_s": 30}
        request = create_room(max_players=3, ruleset_config=config)
        async with client(server.url, token_for(user)) as ws:
            reply = await ask(ws, request)
        assert reply["type"] == "create_room_ok" and reply["request_id"] == request["request_id"]
        payload = reply["payload"]
        assert list(payload) == ["room_id", "code", "seat_index", "is_host"]
        room_id, code = uuid.UUID(payload["room_id"]), payload["code"]
        assert len(code) == 6 and set(code) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        assert (payload["seat_index"], payload["is_host"]) == (0, True)

        dsn = module_database_url
        [room] = await fetch(dsn, "SELECT * FROM rooms WHERE room_id = $1", room_id)
        assert room["owner_user_id"] == user and room["code"] == code
        assert (room["visibility"], room["status"], room["version"]) == ("private", "open", 0)
        assert room["max_players"] == 3 and room["ruleset_id"] == "classic"
        assert json.loads(room["ruleset_config"]) == config
        seats = await fetch(
            dsn, "SELECT * FROM room_seats WHERE room_id = $1 ORDER BY seat_index", room_id
        )
        assert [s["seat_index"] for s in seats] == [0, 1, 2, 3]
        host, *empty = seats
        assert (host["status"], host["user_id"], host["is_host"], host["ready"]) == (
            "occupied",
            user,
            True,
            "not_ready",
        )
        for seat in empty:
            assert (seat["status"], seat["user_id"], seat["is_host"], seat["ready"]) == (
                "empty",
                None,
                False,
                "not_ready",
            )
        [key] = await fetch(dsn, "SELECT * FROM ws_idempotency WHERE user_id = $1", user)
        assert key["request_id"] == uuid.UUID(request["request_id"])
        assert key["status"] == "completed"
        # The stored answer is what a replay sends back.
        stored = json.loads(key["response_payload"])
        assert stored.get("result", stored) == payload

        meta = await redis.hgetall(f"room:{room_id}:meta")
        assert set(meta) == META_FIELDS
        assert meta["status"] == "open" and meta["visibility"] == "private"
        assert meta["owner_user_id"] == str(user) and meta["code"] == code
        assert meta["max_players"] == "3" and meta["ruleset_id"] == "classic"
        assert json.loads(meta["ruleset_config"]) == config
        assert meta["version"] == "0" and int(meta["created_at_ms"]) > 1_700_000_000_000
        seats_hash = await redis.hgetall(f"room:{room_id}:seats")
        assert set(seats_hash) == {"seat:0", "seat:1", "seat:2", "seat:3"}
        host_seat = json.loads(seats_hash["seat:0"])
        # True at creation; presence turns it false once the socket above has
        # closed (docs/protocol.md, presence), which may or may not be done yet.
        assert isinstance(host_seat.pop("connected"), bool)
        assert host_seat == {
            "user_id": str(user),
            "display_name": "Zoë",
            "ready": "not_ready",
            "is_host": True,
            "joined_at_ms": int(meta["created_at_ms"]),
        }
        assert [seats_hash[f"seat:{i}"] for i in (1, 2, 3)] == ["{}", "{}", "{}"]

    async def test_replay_on_a_new_connection(
        self, server: ServerProcess, make_user: Any, module_database_url: str
    ) -> None:
        user = await make_user()
        request = create_room()
        async with replayed_create(server.url, user, request) as (ws, first, replayed):
            assert replayed == first
            # Omitted fields and their defaults are the same request.
            explicit = create_room(
                request["request_id"], visibility="private", max_players=4, ruleset_config={}
            )
            assert await answer(ws, explicit) == first
        assert await written_by(module_database_url, user) == (1, 1)

    async def test_key_reuse_with_another_payload(
        self, server: ServerProcess, make_user: Any, module_database_url: str
    ) -> None:
        ann, bob = await make_user("Ann"), await make_user("Bob")
        request = create_room()
        async with client(server.url, token_for(ann)) as ws:
            assert (await ask(ws, request))["type"] == "create_room_ok"
            other = create_room(request["request_id"], max_players=2)
            reply = await ask(ws, other)
        assert reply["type"] == "error" and reply["request_id"] == request["request_id"]
        assert reply["payload"]["code"] == "idempotency_key_reused"
        assert reply["payload"]["retryable"] is False
        # Another user may use the same request_id.
        async with client(server.url, token_for(bob)) as ws:
            assert (await ask(ws, other))["type"] == "create_room_ok"
        assert await written_by(module_database_url, ann) == (1, 1)
        assert await written_by(module_database_url, bob) == (1, 1)

    @pytest.mark.parametrize(
        ("frame", "code", "echo"),
        [c[1:] for c in MALFORMED_FRAMES],
        ids=[c[0] for c in MALFORMED_FRAMES],
    )
    async def test_malformed_frames_write_nothing_and_keep_the_connection(
        self,
        server: ServerProcess,
        make_user: Any,
        module_database_url: str,
        frame: str | bytes,
        code: str,
        echo: str | None,
    ) -> None:
        user = await make_user()
        async with client(server.url, token_for(user)) as ws:
            reply = await ask(ws, frame)
            assert (reply["type"], reply["request_id"]) == ("error", echo)
            assert reply["payload"]["code"] == code
            assert await written_by(module_database_url, user) == (0, 0)
            assert (await ask(ws, create_room()))["type"] == "create_room_ok"

    @pytest.mark.parametrize(
        ("payload", "details"),
        [c[1:] for c in INVALID_PAYLOADS],
        ids=[c[0] for c in INVALID_PAYLOADS],
    )
    async def test_validation_failures_write_nothing_and_keep_the_connection(
        self,
        server: ServerProcess,
        make_user: Any,
        module_database_url: str,
        payload: Any,
        details: list[dict[str, str]],
    ) -> None:
        user = await make_user()
        async with client(server.url, token_for(user)) as ws:
            request_id = str(uuid.uuid4())
            reply = await ask(
                ws, {"type": "create_room", "request_id": request_id, "payload": payload}
            )
            assert (reply["type"], reply["request_id"]) == ("error", request_id)
            assert reply["payload"]["code"] == "validation_failed"
            assert reply["payload"]["details"] == details
            assert await written_by(module_database_url, user) == (0, 0)
            assert (await ask(ws, create_room()))["type"] == "create_room_ok"


@pytest.mark.usefixtures("forget_rooms")
class TestRoomEvents:
    async def test_a_message_published_on_the_channel_arrives_unchanged(
        self, server: ServerProcess, make_user: Any, redis: aioredis.Redis
    ) -> None:
        user = await make_user()
        async with client(server.url, token_for(user)) as ws:
            room_id = (await ask(ws, create_room()))["payload"]["room_id"]
            message = '{"type":"player_joined","payload":{"seat":1,"name":"Zoë"}}'
            # Delivery needs the subscription to be live on the server side.
            for _ in range(100):
                if await redis.publish(f"room:{room_id}:events", message):
                    break
                await asyncio.sleep(0.05)
            assert await asyncio.wait_for(ws.recv(), 10) == message
        # Unsubscribed on close: nobody listens any more.
        for _ in range(100):
            if (await redis.pubsub_numsub(f"room:{room_id}:events"))[0][1] == 0:
                break
            await asyncio.sleep(0.05)
        assert (await redis.pubsub_numsub(f"room:{room_id}:events"))[0][1] == 0

    async def test_one_subscriber_connection_serves_many_rooms(
        self, server: ServerProcess, make_user: Any, redis: aioredis.Redis
    ) -> None:
        users = [await make_user(f"P{i}") for i in range(4)]
        async with contextlib_many(server.url, users) as sockets:
            rooms = []
            for ws in sockets:
                for _ in range(5):
                    rooms.append((await ask(ws, create_room()))["payload"]["room_id"])
            for _ in range(100):
                counts = await redis.pubsub_numsub(*(f"room:{r}:events" for r in rooms))
                if all(n == 1 for _, n in counts):
                    break
                await asyncio.sleep(0.05)
            assert all(n == 1 for _, n in counts)
            subscribers = [
                c for c in await redis.client_list(_type="pubsub") if int(c.get("sub", 0)) >= 20
            ]
            assert len(subscribers) == 1


def contextlib_many(url: str, users: list[uuid.UUID]) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def many() -> AsyncIterator[list[Any]]:
        async with contextlib.AsyncExitStack() as exits:
            yield [await exits.enter_async_context(client(url, token_for(u))) for u in users]

    return many()


def test_logs_hold_no_token_and_no_payload(server: ServerProcess) -> None:
    log = server.log()
    # The server ran at debug level and traced headers and frames (the library
    # writes each header and a preview of each frame there): blanked.
    assert '"level":"debug"' in log
    assert "< authorization: [redacted]" in log
    assert "< TEXT [" in log
    assert_log_clean(log, tokens=ISSUED_TOKENS, markers=[PAYLOAD_MARKER])
    assert "access_token" not in log
    assert "eyJ" not in log  # every JWT starts with a base64 '{"'
    assert "ruleset_config" not in log and "deck" not in log
    # JSON lines (compact, as orjson writes them): a request line is among them.
    loggers = {json.loads(line).get("logger") for line in log.splitlines() if line.startswith("{")}
    assert "rooms_ws.requests" in loggers
