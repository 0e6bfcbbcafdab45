"""Phase 4: the lobby, pairs of players from create to leave, per request type.

For each number of pairs, one window on a fresh ``rooms serve``: the worker
runs the cycles (benchmarks/lobby.py) and this process samples the server's
CPU time at the window's edges. A cycle mixes every request type on one
socket, so the server's CPU is split per type only as an average per request
(a window per type would measure a lobby nobody runs; the crowd phase,
benchmarks/phase_crowd.py, gives the cost per type from windows of one type).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.bench import Bench
from benchmarks.lobby import LobbyPlan, LobbyResult, run_lobby
from benchmarks.procfs import cpu_seconds
from benchmarks.worker import Worker

SET_UP_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class LobbyFigures:
    pairs: int
    result: LobbyResult
    server_cpu_s: float | None
    postgres_cpu_s: float | None


def _cpu(*pids: int | None) -> list[float | None]:
    return [cpu_seconds(pid) if pid is not None else None for pid in pids]


def _spent(before: list[float | None], after: list[float | None]) -> list[float | None]:
    return [b if b is None or a is None else a - b for b, a in zip(before, after, strict=True)]


def run(bench: Bench, say: Callable[[str], None]) -> list[LobbyFigures]:
    opts = bench.options
    pg_pid = bench.services.postgres_pid
    every = []
    with bench.rooms_server("lobby") as server:
        for pairs in opts.pairs:
            started = time.monotonic()
            plan = LobbyPlan(
                server.url,
                bench.tokens[: 2 * pairs],
                opts.warmup_s,
                opts.duration_s,
                opts.compression,
            )
            with Worker(run_lobby, plan) as worker:
                worker.mark("start", SET_UP_TIMEOUT_S)
                before = _cpu(server.pid, pg_pid)
                worker.mark("stop", opts.duration_s + SET_UP_TIMEOUT_S)
                server_cpu, pg_cpu = _spent(before, _cpu(server.pid, pg_pid))
                result: LobbyResult = worker.expect("result", SET_UP_TIMEOUT_S)
            every.append(LobbyFigures(pairs, result, server_cpu, pg_cpu))
            cycles = len(result.replies_ms.get("start_game", []))
            say(
                f"  pairs={pairs}: {cycles / result.window_s:,.0f} lobbies/s"
                f" ({time.monotonic() - started:.0f} s)"
            )
    return every
