"""Issue 14's goals, one table at the end of the run: figure, goal, met or missed.

A goal whose phase did not run (``--phases``) or whose figure could not be
taken is listed as ``not run`` / ``n/a``, never as met.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import fmean

from benchmarks.phase_create import BASELINE, NO_GC_FREEZE, SERVER, ConcurrencyRuns, Measured
from benchmarks.phase_crowd import CrowdFigures
from benchmarks.phase_idle import IdleFigures
from benchmarks.phase_scale import ONE, TWO_PORTS, WORKERS_2, ScaleFigures
from benchmarks.stats import Latencies

NOT_RUN = "not run"


@dataclass(frozen=True, slots=True)
class Goal:
    name: str
    figure: float | None  # None: its phase did not run
    unit: str
    target: float
    at_most: bool = True  # False: the figure must reach the target (>=)

    @property
    def verdict(self) -> str:
        if self.figure is None:
            return NOT_RUN
        if math.isnan(self.figure):
            return "n/a"
        met = self.figure <= self.target if self.at_most else self.figure >= self.target
        return "met" if met else "missed"

    def line(self) -> str:
        figure = "-" if self.figure is None else _number(self.figure)
        sign = "<=" if self.at_most else ">="
        return f"  {self.name:<52}{figure:>9} {self.unit:<7}{sign} {self.target:<7g}{self.verdict}"


def _number(value: float) -> str:
    """Three significant digits, without an exponent for the large ones."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


@dataclass(slots=True)
class RunFigures:
    """What the phases returned; a phase that did not run leaves None."""

    create: Sequence[ConcurrencyRuns] | None = None
    idle: Sequence[IdleFigures] | None = None
    crowd: CrowdFigures | None = None
    scale: ScaleFigures | None = None


def _server_cpu_ms(runs: Sequence[Measured]) -> float:
    rooms = sum(r.window.completed for r in runs)
    spent = [r.server_cpu_s for r in runs]
    if not rooms or any(s is None for s in spent):
        return math.nan
    return 1000.0 * sum(s for s in spent if s is not None) / rooms


def _latencies(runs: Sequence[Measured]) -> Latencies:
    return Latencies.of(s for r in runs for s in r.window.latencies_ms)


def _at(create: Sequence[ConcurrencyRuns] | None, clients: int) -> ConcurrencyRuns | None:
    return next((c for c in create or () if c.clients == clients), None)


def _create_goals(create: Sequence[ConcurrencyRuns] | None) -> list[Goal]:
    def of(clients: int, figure: Callable[[ConcurrencyRuns], float]) -> float | None:
        runs = _at(create, clients)
        return None if runs is None else figure(runs)

    def ratio(runs: ConcurrencyRuns) -> float:
        server = fmean(r.window.rate for r in runs.kinds[SERVER])
        return server / fmean(r.window.rate for r in runs.kinds[BASELINE])

    def tail(runs: ConcurrencyRuns) -> float:
        lat = _latencies(runs.kinds[SERVER])
        return lat.p99_ms / lat.p50_ms if lat.count else math.nan

    return [
        Goal("server CPU per created room, C=32", of(32, _cpu_of_server), "ms", 0.5),
        Goal("server CPU per created room, C=64", of(64, _cpu_of_server), "ms", 0.5),
        Goal("create p99 / p50 at C=64", of(64, tail), "x", 3.0),
        Goal("create p99 at C=64", of(64, lambda r: _latencies(r.kinds[SERVER]).p99_ms), "ms", 100),
        Goal("create rate / asyncpg baseline at C=32", of(32, ratio), "x", 0.8, at_most=False),
    ]


def _cpu_of_server(runs: ConcurrencyRuns) -> float:
    return _server_cpu_ms(runs.kinds[SERVER])


def _crowd_goals(crowd: CrowdFigures | None) -> list[Goal]:
    def cpu(type_: str) -> float | None:
        return None if crowd is None else crowd.cpu_ms_per(type_)

    label = "crowd" if crowd is None else f"{crowd.rooms} rooms x {crowd.members}"
    event = None if crowd is None else Latencies.of(crowd.result.events_ms).p99_ms
    return [
        Goal(f"server CPU per join_room, net ({label})", cpu("join_room"), "ms", 0.5),
        Goal(f"server CPU per set_ready, net ({label})", cpu("set_ready"), "ms", 0.5),
        Goal(f"server CPU per leave_room, net ({label})", cpu("leave_room"), "ms", 0.5),
        Goal(f"event p99, request -> other members ({label})", event, "ms", 5.0),
    ]


def _idle_goal(idle: Sequence[IdleFigures] | None) -> list[Goal]:
    if idle is None or len(idle) != 2:
        return [Goal("idle RSS per connection, rooms / bare", None, "x", 1.10)]
    bare, rooms = idle
    b, r = bare.levels[-1], rooms.levels[-1]
    name = f"idle RSS per connection, rooms / bare, N={r.connections}"
    return [Goal(name, r.per_connection / b.per_connection, "x", 1.10)]


def goal_lines(figures: RunFigures) -> list[str]:
    goals = [
        *_create_goals(figures.create),
        *_crowd_goals(figures.crowd),
        *_idle_goal(figures.idle),
    ]
    lines = [
        "goals of issue 14 (figures of this run; a shared machine's figures are noisy,",
        "ratios within the run are what holds)",
        f"  {'goal':<52}{'figure':>9} {'':<7}goal",
        *(g.line() for g in goals),
    ]
    lines += _scale_lines(figures.scale)
    lines += _gc_lines(figures.create)
    return lines


def _scale_lines(scale: ScaleFigures | None) -> list[str]:
    if scale is None:
        return ["  create-rate scaling over processes: not run (--phases scale)"]

    def each(kind: str) -> str:
        pairs = zip(scale.rates[kind], scale.rates[ONE], strict=True)
        return " ".join(f"{r / one:.2f}" for r, one in pairs)

    return [
        f"  create-rate scaling at C={scale.clients} (no goal; method in docs/benchmarks.md):"
        f" --workers 2 = {scale.factor(WORKERS_2):.2f} x one process (rounds {each(WORKERS_2)}),"
        f" two processes on two ports = {scale.factor(TWO_PORTS):.2f} x (rounds {each(TWO_PORTS)})"
    ]


def _gc_lines(create: Sequence[ConcurrencyRuns] | None) -> list[str]:
    lines = []
    for runs in create or ():
        if NO_GC_FREEZE not in runs.kinds:
            continue
        on, off = _latencies(runs.kinds[SERVER]), _latencies(runs.kinds[NO_GC_FREEZE])
        lines.append(
            f"  C={runs.clients}: gc freeze on / off: p99/p50 {on.p99_ms / on.p50_ms:.2f}"
            f" / {off.p99_ms / off.p50_ms:.2f}, p99 {on.p99_ms:.1f} / {off.p99_ms:.1f} ms,"
            f" CPU {_server_cpu_ms(runs.kinds[SERVER]):.3f}"
            f" / {_server_cpu_ms(runs.kinds[NO_GC_FREEZE]):.3f} ms/room"
        )
    return lines
