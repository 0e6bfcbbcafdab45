"""Phase 6: create rate over two processes, against one, in the same run.

Three servers run side by side: one ``rooms serve``, one ``rooms serve
--workers 2`` (two processes accepting on one socket), and two plain
``rooms serve`` on two ports, each given half the clients (what a load
balancer in front of them would do). Each round has one create window per
kind, in turn (the order alternating by round); the factor is a kind's mean
rate over the one-process mean.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import fmean

from benchmarks.bench import Bench
from benchmarks.loadgen import LoadPlan, run_load
from benchmarks.phase_create import SET_UP_TIMEOUT_S, measure
from benchmarks.process import ServerProcess
from benchmarks.stats import WindowResult
from benchmarks.worker import Worker

ONE = "one"
WORKERS_2 = "workers-2"
TWO_PORTS = "two-ports"


@dataclass(frozen=True, slots=True)
class ScaleFigures:
    clients: int
    rates: dict[str, list[float]] = field(default_factory=dict)

    def factor(self, kind: str) -> float:
        return fmean(self.rates[kind]) / fmean(self.rates[ONE])


def _split_window(bench: Bench, servers: list[ServerProcess], tokens: list[str]) -> float:
    """One window with the clients shared out between servers; the summed rate."""
    opts = bench.options
    share = len(tokens) // len(servers)
    plans = [
        LoadPlan(
            s.url,
            tokens[i * share : (i + 1) * share],
            opts.warmup_s,
            opts.duration_s,
            opts.compression,
        )
        for i, s in enumerate(servers)
    ]
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(Worker(run_load, plan)) for plan in plans]
        for edge in ("start", "stop"):
            for worker in workers:
                worker.mark(edge, opts.duration_s + SET_UP_TIMEOUT_S)
        results: list[WindowResult] = [w.expect("result", SET_UP_TIMEOUT_S) for w in workers]
    return sum(r.rate for r in results)


def run(bench: Bench, say: Callable[[str], None]) -> ScaleFigures:
    opts = bench.options
    clients = opts.scale_clients
    tokens = bench.tokens[:clients]
    figures = ScaleFigures(clients)
    with contextlib.ExitStack() as stack:
        one = stack.enter_context(bench.rooms_server("scale-one", workers=1))
        two = stack.enter_context(bench.rooms_server("scale-workers-2", workers=2))
        ports = [
            stack.enter_context(bench.rooms_server(f"scale-port-{i}", workers=1)) for i in (1, 2)
        ]

        def single(server: ServerProcess) -> Callable[[], float]:
            def window() -> float:
                plan = LoadPlan(
                    server.url, tokens, opts.warmup_s, opts.duration_s, opts.compression
                )
                measured = measure(
                    run_load,
                    plan,
                    window_s=opts.duration_s,
                    server_pid=server.pid,
                    postgres_pid=None,
                )
                return measured.window.rate

            return window

        kinds: dict[str, Callable[[], float]] = {
            ONE: single(one),
            WORKERS_2: single(two),
            TWO_PORTS: lambda: _split_window(bench, ports, tokens),
        }
        for round_no in range(1, opts.scale_rounds + 1):
            started = time.monotonic()
            order = list(kinds) if round_no % 2 else list(reversed(kinds))
            for kind in order:
                figures.rates.setdefault(kind, []).append(kinds[kind]())
            rates = ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in figures.rates.items())
            say(f"  C={clients} round {round_no}: {rates} ({time.monotonic() - started:.0f} s)")
    return figures
