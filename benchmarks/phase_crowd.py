"""Phase 5: 1,000 rooms of 4 members, CPU per request type and event delivery.

The lobby phase mixes every request type in each window, so its CPU is only
an average over types. Here each window holds one request type only (see
benchmarks/crowd.py): the server's CPU over the window / that type's
requests is the type's own cost, events to the other members included,
less the server's background (its CPU per second in the quiet window, with
the same sockets open, times the window's length).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.bench import Bench
from benchmarks.crowd import QUIET, WINDOWS, CrowdPlan, CrowdResult, run_crowd
from benchmarks.procfs import cpu_seconds
from benchmarks.worker import Worker

SET_UP_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class CrowdFigures:
    rooms: int
    members: int
    rate: float
    result: CrowdResult
    server_cpu_s: dict[str, float] = field(default_factory=dict)
    window_s: dict[str, float] = field(default_factory=dict)

    def background_s(self, type_: str) -> float:
        """The server's CPU the window would have cost with nothing sent."""
        return self.server_cpu_s[QUIET] / self.window_s[QUIET] * self.window_s[type_]

    def cpu_ms_per(self, type_: str, *, net: bool = True) -> float:
        done = self.result.ok[type_]
        spent = self.server_cpu_s[type_] - (self.background_s(type_) if net else 0.0)
        return 1000.0 * spent / done if done else float("nan")


def run(bench: Bench, say: Callable[[str], None]) -> CrowdFigures:
    opts = bench.options
    rooms, members = opts.crowd_rooms, opts.crowd_members
    cpu: dict[str, float] = {}
    spans: dict[str, float] = {}
    with bench.rooms_server("crowd") as server:
        plan = CrowdPlan(
            server.url,
            bench.tokens[: rooms * members],
            members,
            opts.crowd_rate,
            opts.duration_s,
            opts.compression,
        )
        started = time.monotonic()
        with Worker(run_crowd, plan) as worker:
            for type_ in (WINDOWS[0], QUIET, *WINDOWS[1:]):
                worker.mark(f"{type_} start", SET_UP_TIMEOUT_S)
                before, opened = cpu_seconds(server.pid), time.monotonic()
                worker.mark(f"{type_} stop", SET_UP_TIMEOUT_S)
                cpu[type_] = cpu_seconds(server.pid) - before
                spans[type_] = time.monotonic() - opened
                say(f"  {rooms} rooms x {members}: {type_} window {spans[type_]:.1f} s")
            result: CrowdResult = worker.expect("result", SET_UP_TIMEOUT_S)
        say(f"  crowd phase {time.monotonic() - started:.0f} s")
    return CrowdFigures(rooms, members, opts.crowd_rate, result, cpu, spans)
