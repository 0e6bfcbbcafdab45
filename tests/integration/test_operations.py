"""What operators get: the log of a whole server run, and the metrics, checked field by field.

One ``rooms serve`` goes through everything that writes a line: refused
handshakes (tokens forged, expired, for nobody), a browser-style token in the
query string, creates, replays, every kind of bad frame, a flood closed with
4008, an oversized frame, Redis stopped under it, and SIGTERM. Payloads carry
a marker string. Then: every line is JSON, one line per request and per
connection open/close with the fields operations rely on, no token signature
and no marker anywhere, and the metrics the issue lists are all exposed.
"""

from __future__ import annotations

import json
import signal
import uuid
from typing import Any

import jwt
import pytest

from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_ws.messages import REQUEST_TYPES
from tests.integration.fullstack import add_user, start_server
from tests.integration.redis_fixtures import PrivateEnv
from tests.integration.server_probe import assert_log_clean, log_records, scrape
from tests.integration.server_process import Servers, wait_closed
from tests.integration.ws_support import (
    PAYLOAD_MARKER,
    SECRET,
    ask,
    client,
    close_code,
    create_room,
    free_port,
    refusal_status,
    token_for,
)

pytestmark = pytest.mark.integration

ORIGIN = "http://localhost:5173"
POOL_MAX = 7
REQUEST_FIELDS = {"user_id", "connection_id", "request_id", "type", "outcome", "duration_ms"}


async def test_one_server_run_logs_and_metrics(
    private_env: PrivateEnv, fault_redis: EmbeddedRedis, servers: Servers, database_url: str
) -> None:
    metrics_port = free_port()
    env = private_env(
        ROOMS_ALLOWED_ORIGINS=ORIGIN,
        ROOMS_METRICS_PORT=str(metrics_port),
        ROOMS_DB_POOL_MAX_SIZE=str(POOL_MAX),
        ROOMS_RATE_BURST="10",
        ROOMS_RATE_PER_SECOND="1",
        ROOMS_RATE_ABUSE_STRIKES="5",
        ROOMS_REDIS_BREAKER_OPEN_S="60",
    )
    server = await start_server(servers, env)
    user, nobody = await add_user(database_url), uuid.uuid4()
    token = token_for(user)
    tokens = [
        token,
        token_for(user, ttl_s=-60),  # expired
        token_for(user, secret="x" * 48),  # forged
        token_for(nobody),  # for nobody
        jwt.encode({"sub": str(user), "exp": 4102444800}, SECRET, algorithm="HS256"),
    ]
    for refused in tokens[1:4]:
        assert await refusal_status(server.url, refused) == 401
    assert await refusal_status(server.url, tokens[4], via_query=True, origin="https://x.io") == 403

    sent: list[str] = []  # request ids of frames whose id the server can read
    config = {"deck": PAYLOAD_MARKER}
    async with client(server.url, tokens[4], via_query=True, origin=ORIGIN) as ws:
        created = create_room(ruleset_config=config)
        for frame in (
            created,
            created,  # a replay
            create_room(created["request_id"], ruleset_config={"deck": "other"}),
            create_room(max_players=PAYLOAD_MARKER),
            create_room(**{PAYLOAD_MARKER: 1}),
            {"type": "fly_to_the_moon", "request_id": str(uuid.uuid4()), "payload": config},
        ):
            reply = await ask(ws, frame)
            assert reply["request_id"] == frame["request_id"]
            sent.append(frame["request_id"])
        for garbage in (f"not json {PAYLOAD_MARKER}", PAYLOAD_MARKER.encode(), "[]"):
            assert (await ask(ws, garbage))["payload"]["code"] == "bad_message"
    async with client(server.url, token) as flood:
        for _ in range(40):
            await flood.send(PAYLOAD_MARKER)
        assert await close_code(flood) == 4008
    async with client(server.url, token, max_size=None) as big:
        await big.send(json.dumps(create_room(ruleset_config={"k": PAYLOAD_MARKER * 5000})))
        assert await close_code(big) == 1009
    async with client(server.url, token) as ws:
        fault_redis.stop()
        unlucky = await ask(ws, create_room(ruleset_config=config))
        assert unlucky["type"] == "create_room_ok"
        sent.append(unlucky["request_id"])
        samples = scrape(metrics_port)
        server.process.send_signal(signal.SIGTERM)
        assert await close_code(ws) == 1012
    assert await wait_closed(server) == 0

    log = server.log()
    records = log_records(log)
    assert len(records) == len(log.splitlines()), "every line is one JSON object"
    assert_log_clean(log, tokens=tokens, markers=[PAYLOAD_MARKER])
    assert "access_token" not in log
    check_request_lines(records, sent)
    check_connection_lines(records)
    [miss] = [r for r in records if r["logger"] == "rooms_domain.create_room"]
    assert miss["room_id"] == unlucky["payload"]["room_id"] and "traceback" not in miss
    check_metrics(samples)


def check_request_lines(records: list[dict[str, Any]], sent: list[str]) -> None:
    lines = [r for r in records if r["logger"] == "rooms_ws.requests"]
    for line in lines:
        assert set(line) >= REQUEST_FIELDS, line
        assert isinstance(line["duration_ms"], int | float)
        # A request's own type, or "other": never a type a client made up.
        assert line["type"] in REQUEST_TYPES | {"other", None}
    by_id = {line["request_id"]: line for line in lines if line["request_id"] is not None}
    for request_id in sent:  # one line each, whatever became of the request
        assert sum(line["request_id"] == request_id for line in lines) >= 1
    outcomes = {line["outcome"] for line in lines}
    assert {
        "create_room_ok",
        "idempotency_key_reused",
        "validation_failed",
        "unknown_type",
        "bad_message",
        "rate_limited",
    } <= outcomes
    assert by_id[sent[0]]["type"] == "create_room"
    assert by_id[sent[5]]["type"] == "other"  # an unknown type is not echoed


def check_connection_lines(records: list[dict[str, Any]]) -> None:
    opened = [r for r in records if r["msg"] == "connection open"]
    closed = [r for r in records if r["msg"] == "connection closed"]
    assert len(opened) == len(closed) == 4
    assert {r["connection_id"] for r in opened} == {r["connection_id"] for r in closed}
    for line in closed:
        assert {"user_id", "connection_id", "close_code", "requests", "duration_ms"} <= set(line)
    assert {r["close_code"] for r in closed} >= {4008, 1009, 1012}
    refusals = [r for r in records if r["msg"] == "handshake refused"]
    assert sorted(r["status"] for r in refusals) == [401, 401, 401, 403]


def check_metrics(samples: dict[str, float]) -> None:
    assert samples["rooms_open_connections"] == 1
    assert samples['rooms_requests_total{outcome="create_room_ok",type="create_room"}'] >= 3
    assert samples['rooms_requests_total{outcome="unknown_type",type="other"}'] == 1
    assert samples['rooms_request_seconds_count{type="create_room"}'] >= 3
    # Fresh creates only (replays draw nothing): the first one and the unlucky one.
    assert samples["rooms_create_code_draws_count"] == 2
    assert samples['rooms_create_code_draws_bucket{le="1.0"}'] == 2
    assert samples['rooms_connections_closed_total{code="4008"}'] == 1
    assert samples['rooms_connections_closed_total{code="1009"}'] == 1
    assert samples['rooms_handshakes_refused_total{status="401"}'] == 3
    assert samples["rooms_live_state_misses_total"] == 1
    assert samples["rooms_redis_cache_failures_total"] == 1
    assert samples['rooms_redis_breaker_state{state="open"}'] == 1
    assert samples["rooms_db_pool_max_connections"] == POOL_MAX
    in_use = samples['rooms_db_pool_connections{state="in_use"}']
    idle = samples['rooms_db_pool_connections{state="idle"}']
    assert in_use >= 0 and 1 <= in_use + idle <= POOL_MAX
    assert "rooms_redis_events_connected" in samples
    assert samples["process_resident_memory_bytes"] > 0
