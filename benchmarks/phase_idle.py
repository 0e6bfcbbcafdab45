"""Phase 2: resident memory per idle authenticated connection.

The same client (one process, one connection per user, nothing sent) opens
connections against a fresh ``rooms serve`` and a fresh bare FastAPI/uvicorn
endpoint. Per level N: (RSS with N open - RSS after warm-up) / N. Unless
``--idle-no-rooms``, each of the rooms server's connections also creates a
room, and so follows it, before idling (the bare endpoint has no rooms).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.bench import Bench
from benchmarks.idle import CREATE_FAILED, IdlePlan, run_idle
from benchmarks.process import ServerProcess
from benchmarks.procfs import rss_bytes
from benchmarks.worker import Worker

SETTLE_S = 1.5
OPEN_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class IdleLevel:
    connections: int
    rss: int
    per_connection: float
    refused: Counter[str]


@dataclass(frozen=True, slots=True)
class IdleFigures:
    name: str
    rss_at_rest: int
    levels: list[IdleLevel]


def _measure(
    server: ServerProcess, bench: Bench, say: Callable[[str], None], *, follow: bool = False
) -> IdleFigures:
    levels = list(bench.options.idle_levels)
    opts = bench.options
    plan = IdlePlan(server.url, bench.tokens[: levels[-1]], levels, opts.compression, follow)
    samples: list[tuple[int, int, float]] = []
    with Worker(run_idle, plan) as worker:
        worker.mark("warm", OPEN_TIMEOUT_S)
        time.sleep(SETTLE_S)
        at_rest = rss_bytes(server.pid)
        worker.send(None)
        for level in levels:
            started = time.monotonic()
            worker.mark(f"open {level}", OPEN_TIMEOUT_S)
            opened_in = time.monotonic() - started
            time.sleep(SETTLE_S)
            samples.append((level, rss_bytes(server.pid), opened_in))
            worker.send(None)
        refused: dict[int, Counter[str]] = worker.expect("result", OPEN_TIMEOUT_S)
    figures = []
    for level, rss, opened_in in samples:
        failed = refused.get(level, Counter())
        open_now = level - sum(
            count
            for n, c in refused.items()
            if n <= level
            for reason, count in c.items()
            if not reason.startswith(CREATE_FAILED)
        )
        figures.append(IdleLevel(level, rss, (rss - at_rest) / max(open_now, 1), failed))
        say(f"  {server.name}: {open_now} open in {opened_in:.1f} s, RSS {rss / 2**20:,.1f} MiB")
    return IdleFigures(server.name, at_rest, figures)


def run(bench: Bench, say: Callable[[str], None]) -> list[IdleFigures]:
    results = []
    with bench.bare_server() as bare:
        results.append(_measure(bare, bench, say))
    with bench.rooms_server("idle") as rooms:
        results.append(_measure(rooms, bench, say, follow=bench.options.idle_follow))
    return results
