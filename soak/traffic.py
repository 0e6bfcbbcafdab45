"""One soak client: a socket, a paced mix of frames, and a client's duty to retry.

Each turn picks one of: a new create; a duplicate (a create sent before,
byte for byte, as a client that lost its reply would send it); the same
request id with another payload; or garbage. A create that got a retryable
error, or no reply in time, is sent again later with the same request id,
and once more after the run until it is answered: that is what makes
"rooms == distinct successful request ids" a fair check.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from soak.tally import Tally

REPLY_TIMEOUT_S = 15.0
SETTLE_S = 30.0

GARBAGE: tuple[str | bytes, ...] = (
    "not json at all",
    b"\x00\x01 a binary frame",
    "[]",
    '{"type": "create_room"}',
    '{"type": "create_room", "request_id": "42", "payload": {}}',
    "[" * 100 + "]" * 100,
    '{"n": NaN}',
)


def new_create(rng: random.Random) -> str:
    return json.dumps(
        {
            "type": "create_room",
            "request_id": str(uuid.uuid4()),
            "payload": {
                "ruleset_id": "classic",
                "max_players": rng.choice((2, 3, 4)),
                "ruleset_config": {"turn_s": rng.randrange(10, 60)},
            },
        }
    )


def invalid(rng: random.Random) -> str:
    """A well-formed request that breaks a rule (or names no known type)."""
    request_id = str(uuid.uuid4())
    if rng.random() < 0.5:
        return json.dumps({"type": "join_room", "request_id": request_id, "payload": {}})
    payload = {"ruleset_id": "classic", "max_players": 9, "ruleset_config": {"k": "x" * 5000}}
    return json.dumps({"type": "create_room", "request_id": request_id, "payload": payload})


Frame = tuple[str | bytes, str | None]  # the frame, and its request id if it must be settled


class Client:
    def __init__(self, url: str, token: str, tally: Tally, *, rate_per_s: float, seed: int) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._tally = tally
        self._interval_s = 1.0 / rate_per_s
        self._rng = random.Random(seed)
        self._answered: list[tuple[str, str]] = []  # (request id, frame) answered ok
        self._answered_ids: set[str] = set()
        self._pending: dict[str, str] = {}  # request id -> frame, creates not settled yet

    async def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            await self._session(deadline, settling=False)
        settle_by = time.monotonic() + SETTLE_S
        while self._pending and time.monotonic() < settle_by:
            await self._session(settle_by, settling=True)
        self._tally.unsettled += len(self._pending)

    async def _session(self, until: float, *, settling: bool) -> None:
        """One connection, used until ``until`` or until it fails."""
        try:
            async with connect(self._url, additional_headers=self._headers, open_timeout=10) as ws:
                while time.monotonic() < until and (self._pending or not settling):
                    started = time.monotonic()
                    frame = self._retry() if settling else self._next_frame()
                    if not await self._exchange(ws, frame):
                        return  # no reply in time: this connection is suspect
                    await asyncio.sleep(max(0.0, self._interval_s - (time.monotonic() - started)))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else 1006
            self._tally.closes[code] += 1
            self._tally.reconnects += 1
        except (OSError, InvalidHandshake, TimeoutError):
            self._tally.reconnects += 1
            await asyncio.sleep(0.5)

    def _retry(self) -> Frame:
        request_id, frame = self._rng.choice(list(self._pending.items()))
        return frame, request_id

    def _next_frame(self) -> Frame:
        roll = self._rng.random()
        if self._pending and roll < 0.3:
            return self._retry()
        if roll < 0.55 or not self._answered:
            frame = new_create(self._rng)
            return frame, json.loads(frame)["request_id"]
        if roll < 0.75:
            request_id, frame = self._rng.choice(self._answered)
            return frame, request_id  # a duplicate: must be a replay
        if roll < 0.8:
            reused = json.loads(self._rng.choice(self._answered)[1])
            reused["payload"]["ruleset_config"]["turn_s"] += 1000
            return json.dumps(reused), None  # same id, other payload: idempotency_key_reused
        if roll < 0.9:
            return invalid(self._rng), None
        return self._rng.choice(GARBAGE), None

    async def _exchange(self, ws: ClientConnection, sending: Frame) -> bool:
        """Send one frame and account for its reply; False if none came in time."""
        frame, request_id = sending
        self._tally.requests += 1
        await ws.send(frame)
        try:
            raw = await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S)
        except TimeoutError:
            self._tally.no_reply += 1
            if request_id is not None:
                self._pending[request_id] = str(frame)
            return False
        reply = json.loads(raw)
        if reply["type"] == "create_room_ok":
            self._tally.replies["create_room_ok"] += 1
            self._tally.ok(reply["request_id"], reply["payload"])
            if request_id is not None:
                self._pending.pop(request_id, None)
                if request_id not in self._answered_ids:
                    self._answered_ids.add(request_id)
                    self._answered.append((request_id, str(frame)))
            return True
        self._tally.replies[reply["payload"]["code"]] += 1
        if request_id is not None:
            if reply["payload"]["retryable"]:
                self._pending[request_id] = str(frame)
            else:
                self._pending.pop(request_id, None)
        return True
