"""A Hypothesis fuzzer on ONE connection to a real ``rooms serve``: thousands of frames.

Text, binary, JSON of any shape, envelopes almost right, huge and deeply
nested values: every frame gets exactly one reply (an error of the
contract's table, or create_room_ok when the fuzzer stumbled on a valid
request), in order, and the connection stays open; never ``internal_error``
(a bug), never 1006/1011. It ends with a deliberate close (1009 for a frame
over the limit). The server's memory is sampled after a warm-up and at the
end: printed, and bounded only generously. The rate limit is raised so that
every frame is really parsed.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_ws.errors import RETRYABLE, ErrorCode
from tests.integration.fullstack import add_user
from tests.integration.server_probe import assert_log_clean, rss_bytes
from tests.integration.server_process import Servers, server_env
from tests.integration.ws_support import PAYLOAD_MARKER, token_for

pytestmark = pytest.mark.integration

MAX_MESSAGE_BYTES = 65536
BATCHES = 300  # of 10-50 frames each: thousands of frames in all
WARM_UP_BATCHES = 50
# Generous: parsing garbage must not keep memory, but allocators keep some.
RSS_GROWTH_BOUND = 48 * 1024 * 1024

SERVED = {"create_room_ok", "error"}
NOT_FROM_GARBAGE = {ErrorCode.INTERNAL_ERROR, ErrorCode.RATE_LIMITED}

# --- strategies -----------------------------------------------------------------

texts = st.text(max_size=40) | st.just(PAYLOAD_MARKER) | st.just("\x00") | st.just("classic")
numbers = (
    st.integers()
    | st.integers(min_value=2**62, max_value=2**80)
    | st.integers(min_value=-(2**80), max_value=-(2**62))
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, 2, 3, 4, 5, -1, 3.0, 2**63, -(2**63), 1e308])
)
scalars = st.none() | st.booleans() | numbers | texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=25,
)


def nested(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


deep = st.builds(nested, st.integers(1, 3000), st.sampled_from(["list", "dict"]))
request_ids = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()) | json_values
types = st.sampled_from(["create_room", "create_room_ok", "error", ""]) | texts | json_values
payloads = (
    st.fixed_dictionaries(
        {},
        optional={
            "visibility": st.sampled_from(["private", "public"]) | json_values,
            "max_players": st.integers(0, 6) | json_values,
            "ruleset_id": st.just("classic") | json_values,
            "ruleset_config": st.dictionaries(texts, json_values, max_size=4) | json_values,
            PAYLOAD_MARKER: json_values,
        },
    )
    | json_values
)
envelopes = st.fixed_dictionaries(
    {},
    optional={"type": types, "request_id": request_ids, "payload": payloads, "extra": scalars},
)
# Right envelope, fuzzed payload: what gets past the envelope to validation and the domain.
requests = st.fixed_dictionaries(
    {"type": st.just("create_room"), "request_id": st.uuids().map(str)},
    optional={"payload": payloads},
)
huge = st.builds(
    lambda n, rid: {
        "type": "create_room",
        "request_id": rid,
        "payload": {"ruleset_id": "classic", "ruleset_config": {PAYLOAD_MARKER: "x" * n}},
    },
    st.integers(1000, MAX_MESSAGE_BYTES - 1000),
    st.uuids().map(str),
)
deep_payload = st.builds(
    lambda depth, rid: (
        '{"type":"create_room","request_id":"' + rid + '","payload":{"ruleset_id":"classic",'
        '"ruleset_config":{"k":' + nested(depth, "list") + "}}}"
    ),
    st.integers(1, 200),
    st.uuids().map(str),
)


def as_json(value: Any) -> str:
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


frames: st.SearchStrategy[str | bytes] = st.one_of(
    envelopes.map(as_json),
    requests.map(as_json),
    json_values.map(as_json),
    huge.map(as_json),
    deep,
    deep_payload,
    st.text(max_size=200),
    st.binary(max_size=200),
    envelopes.map(lambda e: as_json(e).encode()),  # valid JSON, but binary
)


# --- the test -------------------------------------------------------------------


@pytest.fixture
async def fuzz_user(database_url: str) -> uuid.UUID:
    return await add_user(database_url, "Fuzz")


def check_reply(frame: str | bytes, raw: str | bytes) -> str:
    """The reply's type, after checking its shape against the contract."""
    assert isinstance(raw, str), "replies are text frames"
    reply = json.loads(raw)
    assert set(reply) == {"type", "request_id", "payload"}
    assert reply["type"] in SERVED, reply
    if reply["type"] == "error":
        payload = reply["payload"]
        assert set(payload) == {"code", "message", "retryable", "details"}
        code = ErrorCode(payload["code"])
        assert code not in NOT_FROM_GARBAGE, (reply, frame[:300])
        assert payload["retryable"] is RETRYABLE[code]
        assert isinstance(payload["details"], list)
    if reply["request_id"] is not None:
        sent = json.loads(frame)
        assert reply["request_id"] == sent["request_id"]
    return str(reply["type"])


def test_thousands_of_arbitrary_frames_on_one_connection(
    fault_redis: EmbeddedRedis,
    servers: Servers,
    database_url: str,
    fuzz_user: uuid.UUID,
    tmp_path: Path,
) -> None:
    env = server_env(
        database_url,
        fault_redis.url,  # private: the rooms it creates leave no keys in a shared Redis
        tmp_path / "data",
        ROOMS_RATE_PER_SECOND="1000000",
        ROOMS_RATE_BURST="1000000",
        ROOMS_MAX_MESSAGE_BYTES=str(MAX_MESSAGE_BYTES),
    )
    server = servers.start(env)
    pid = server.process.pid
    token = token_for(fuzz_user)
    seen: dict[str, int] = {}
    rss: dict[str, int] = {}
    batches = 0

    with connect(
        server.url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    ) as ws:

        @settings(
            max_examples=BATCHES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: one connection
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(batch=st.lists(frames, min_size=10, max_size=50))
        def one_batch(batch: list[str | bytes]) -> None:
            nonlocal batches
            send_and_check(ws, batch, seen)
            batches += 1
            if batches == WARM_UP_BATCHES:
                rss["warm"] = rss_bytes(pid)

        one_batch()
        rss["end"] = rss_bytes(pid)
        ws.send(json.dumps({"pad": "x" * MAX_MESSAGE_BYTES}))  # one byte too many, at least
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    frames_sent = sum(seen.values())
    growth = rss["end"] - rss["warm"]
    print(
        f"\nfuzz: {frames_sent} frames, replies {dict(sorted(seen.items()))}; "
        f"server RSS after warm-up {rss['warm'] / 2**20:.1f} MiB, "
        f"at the end {rss['end'] / 2**20:.1f} MiB ({growth / 2**20:+.1f} MiB)"
    )
    assert frames_sent >= 3000
    assert growth < RSS_GROWTH_BOUND
    assert server.process.poll() is None
    assert_log_clean(server.log(), tokens=[token], markers=[PAYLOAD_MARKER])


# Presence events of the fuzz user's own rooms: a replayed create_room follows
# a room again that the followed-room cap had dropped (docs/protocol.md, presence).
_PRESENCE_EVENTS = ('"type":"player_reconnected"', '"type":"player_disconnected"')


def _reply(ws: ClientConnection, frame: str | bytes) -> str | bytes:
    """The next frame that is not a presence event."""
    while True:
        try:
            raw = ws.recv(timeout=30)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            raise AssertionError(f"closed with {code} after {frame[:300]!r}") from None
        if not (isinstance(raw, str) and raw.startswith(_PRESENCE_EVENTS, 1)):
            return raw


def send_and_check(ws: ClientConnection, batch: list[str | bytes], seen: dict[str, int]) -> None:
    for frame in batch:
        ws.send(frame)
    for frame in batch:
        raw = _reply(ws, frame)
        kind = check_reply(frame, raw)
        key = kind if kind != "error" else json.loads(raw)["payload"]["code"]
        seen[key] = seen.get(key, 0) + 1
