"""Phase 3: publish -> client delivery latency on ``room:{id}:events``.

A worker holds N connections, each of which created a room (and so is
subscribed to its channel). This process then publishes ``--events``
timestamped events at ``--event-rate`` per second, each on one room's channel
picked at random, with a plain Redis client; the worker times their arrival.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from benchmarks.bench import Bench
from benchmarks.fanout import FanoutPlan, FanoutResult, event_frame, run_fanout
from benchmarks.stats import Latencies
from benchmarks.worker import Worker

SET_UP_TIMEOUT_S = 300.0
SUBSCRIBE_SETTLE_S = 1.0


@dataclass(frozen=True, slots=True)
class FanoutFigures:
    subscribers: int
    published: int
    unheard: int
    delivered: int
    latencies: Latencies
    lost_connections: int


def _publish(redis_url: str, rooms: list[str], events: int, rate: float) -> tuple[int, int]:
    """Publish paced events; returns (published, published with no subscriber)."""
    client = redis.Redis.from_url(redis_url)
    picker = random.Random(6)
    unheard = 0
    try:
        started = time.monotonic()
        for seq in range(events):
            due = started + seq / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            room = rooms[picker.randrange(len(rooms))]
            if client.publish(f"room:{room}:events", event_frame(seq)) == 0:
                unheard += 1
    finally:
        client.close()
    return events, unheard


def run(bench: Bench, say: Callable[[str], None]) -> FanoutFigures:
    opts = bench.options
    with bench.rooms_server("fanout") as server:
        plan = FanoutPlan(server.url, bench.tokens[: opts.subscribers], opts.compression)
        with Worker(run_fanout, plan) as worker:
            started = time.monotonic()
            rooms: list[str] = worker.expect("data", SET_UP_TIMEOUT_S)
            took = time.monotonic() - started
            say(f"  {len(rooms)} connections each created a room ({took:.1f} s)")
            time.sleep(SUBSCRIBE_SETTLE_S)
            published, unheard = _publish(
                bench.services.redis_url, rooms, opts.events, opts.event_rate
            )
            worker.send(published - unheard)
            result: FanoutResult = worker.expect("result", SET_UP_TIMEOUT_S)
    return FanoutFigures(
        subscribers=len(rooms),
        published=published,
        unheard=unheard,
        delivered=len(result.latencies_ms),
        latencies=Latencies.of(result.latencies_ms),
        lost_connections=result.lost_connections,
    )
