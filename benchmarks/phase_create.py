"""Phase 1: rooms/s, latency and cost, server against the asyncpg baseline.

For each concurrency C, ``rounds`` rounds run back to back on the same
PostgreSQL: the baseline window, then (with ``--one-statement``) the
one-statement ceiling, then the server window. The baselines write to a
database of their own (``Services.baseline_dsn``): their rooms have no live
view, which the servers' housekeeping would otherwise rebuild mid-window. Every kind sees the same
machine, so the ratio of their means is the figure that holds when the
machine's speed drifts.

Unless ``--no-gc-compare``, a second server with ``ROOMS_GC_FREEZE=false``
runs beside the first, and each round also has a window against it (the two
server windows alternate their order from round to round): the collector's
tuning (src/rooms_ws/gc_tuning.py) compared within the run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.baseline import BaselinePlan, run_baseline
from benchmarks.bench import Bench
from benchmarks.loadgen import LoadPlan, run_load
from benchmarks.procfs import cpu_seconds, cpu_split, rss_bytes
from benchmarks.profile import Profiler
from benchmarks.stats import WindowResult
from benchmarks.worker import Worker

SET_UP_TIMEOUT_S = 120.0
BASELINE = "baseline"
ONE_STATEMENT = "1-stmt"
SERVER = "server"
NO_GC_FREEZE = "no-gc-frz"


@dataclass(frozen=True, slots=True)
class Measured:
    """One window, and what the measured processes spent during it."""

    window: WindowResult
    server_cpu_s: float | None
    server_system_s: float | None
    postgres_cpu_s: float | None
    server_rss: int | None


@dataclass(frozen=True, slots=True)
class ConcurrencyRuns:
    """Every window at one concurrency, by kind (BASELINE, ONE_STATEMENT, SERVER)."""

    clients: int
    kinds: dict[str, list[Measured]] = field(default_factory=dict)

    def add(self, kind: str, measured: Measured) -> Measured:
        self.kinds.setdefault(kind, []).append(measured)
        return measured


def _cpu(pid: int | None) -> float | None:
    return cpu_seconds(pid) if pid is not None else None


def _system(pid: int | None) -> float | None:
    return cpu_split(pid)[1] if pid is not None else None


def _spent(before: float | None, after: float | None) -> float | None:
    return after - before if before is not None and after is not None else None


def measure(
    target: Callable[..., WindowResult],
    plan: Any,
    *,
    window_s: float,
    server_pid: int | None,
    postgres_pid: int | None,
    profiler: Profiler | None = None,
) -> Measured:
    """Run one load generator; sample the server and PostgreSQL at the window's edges."""
    with Worker(target, plan) as worker:
        worker.mark("start", SET_UP_TIMEOUT_S)
        server_before, pg_before = _cpu(server_pid), _cpu(postgres_pid)
        system_before = _system(server_pid)
        if profiler is not None:
            profiler.start(window_s)
        worker.mark("stop", window_s + SET_UP_TIMEOUT_S)
        server_after, pg_after = _cpu(server_pid), _cpu(postgres_pid)
        system_after = _system(server_pid)
        rss = rss_bytes(server_pid) if server_pid is not None else None
        result: WindowResult = worker.expect("result", SET_UP_TIMEOUT_S)
    if profiler is not None:
        profiler.finish()
    return Measured(
        window=result,
        server_cpu_s=_spent(server_before, server_after),
        server_system_s=_spent(system_before, system_after),
        postgres_cpu_s=_spent(pg_before, pg_after),
        server_rss=rss,
    )


def run(bench: Bench, say: Callable[[str], None]) -> list[ConcurrencyRuns]:
    opts = bench.options
    pg_pid = bench.services.postgres_pid
    baselines = [(BASELINE, False)] + ([(ONE_STATEMENT, True)] if opts.one_statement else [])
    every: list[ConcurrencyRuns] = []
    with contextlib.ExitStack() as stack:
        servers = {SERVER: stack.enter_context(bench.rooms_server("create"))}
        if opts.gc_compare:
            servers[NO_GC_FREEZE] = stack.enter_context(
                bench.rooms_server("create-no-gc-freeze", env={"ROOMS_GC_FREEZE": "false"})
            )
        for clients in opts.clients:
            users, tokens = bench.user_ids[:clients], bench.tokens[:clients]
            runs = ConcurrencyRuns(clients)
            for round_no in range(1, opts.rounds + 1):
                started = time.monotonic()
                for kind, one in baselines:
                    plan = BaselinePlan(
                        bench.services.baseline_dsn, users, opts.warmup_s, opts.duration_s, one
                    )
                    measured = measure(
                        run_baseline,
                        plan,
                        window_s=opts.duration_s,
                        server_pid=None,
                        postgres_pid=pg_pid,
                    )
                    runs.add(kind, measured)
                # Alternate which server goes first, so neither always follows the baseline.
                order = list(servers) if round_no % 2 else list(reversed(servers))
                for kind in order:
                    server = servers[kind]
                    last = clients == opts.clients[-1] and round_no == opts.rounds
                    profiler = None
                    if last and kind == SERVER and opts.profile is not None:
                        profiler = Profiler(
                            server.pid,
                            opts.profile,
                            native=opts.profile_native,
                            subprocesses=opts.workers > 1,
                        )
                    load = LoadPlan(
                        server.url, tokens, opts.warmup_s, opts.duration_s, opts.compression
                    )
                    measured = measure(
                        run_load,
                        load,
                        window_s=opts.duration_s,
                        server_pid=server.pid,
                        postgres_pid=pg_pid,
                        profiler=profiler,
                    )
                    runs.add(kind, measured)
                rates = ", ".join(f"{k} {v[-1].window.rate:,.0f}/s" for k, v in runs.kinds.items())
                say(f"  C={clients} round {round_no}: {rates} ({time.monotonic() - started:.0f} s)")
            every.append(runs)
    return every
