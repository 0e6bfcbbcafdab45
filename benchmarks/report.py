"""The printed figures. Goals are shown beside them as numbers, never as verdicts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from statistics import fmean

from benchmarks.crowd import QUIET, WINDOWS
from benchmarks.lobby import REQUEST_TYPES
from benchmarks.phase_create import (
    BASELINE,
    ONE_STATEMENT,
    SERVER,
    ConcurrencyRuns,
    Measured,
)
from benchmarks.phase_crowd import CrowdFigures
from benchmarks.phase_fanout import FanoutFigures
from benchmarks.phase_idle import IdleFigures
from benchmarks.phase_lobby import LobbyFigures
from benchmarks.stats import Latencies

MIB = 2**20


def _per_room_ms(runs: Sequence[Measured], seconds: Sequence[float | None]) -> float:
    rooms = sum(r.window.completed for r in runs)
    spent = [s for s in seconds if s is not None]
    if rooms == 0 or len(spent) < len(seconds):
        return math.nan
    return 1000.0 * sum(spent) / rooms


def _errors(runs: Sequence[Measured]) -> str:
    total: Counter[str] = Counter()
    for r in runs:
        total.update(r.window.errors)
    return ", ".join(f"{k}={v}" for k, v in sorted(total.items())) or "0"


def _row(label: str, clients: int, runs: Sequence[Measured]) -> str:
    rates = [r.window.rate for r in runs]
    lat = Latencies.of(s for r in runs for s in r.window.latencies_ms)
    each = " ".join(f"{x:,.0f}" for x in rates)
    rss = max((r.server_rss for r in runs if r.server_rss is not None), default=None)
    return (
        f"  {label:<9}{clients:>4}{fmean(rates):>9,.0f}  {each:<20}"
        f"{lat.p50_ms:>7.1f}{lat.p99_ms:>8.1f}{lat.max_ms:>8.1f}"
        f"{_per_room_ms(runs, [r.server_cpu_s for r in runs]):>9.3f}"
        f"{_per_room_ms(runs, [r.postgres_cpu_s for r in runs]):>9.3f}"
        f"{_per_room_ms(runs, [r.window.client_cpu_s for r in runs]):>9.3f}"
        f"{(rss / MIB if rss else math.nan):>9.1f}  {_errors(runs)}"
    )


def _rate(runs: Sequence[Measured]) -> float:
    return fmean(r.window.rate for r in runs)


def create_lines(every: Sequence[ConcurrencyRuns], duration_s: float, rounds: int) -> list[str]:
    lines = [
        f"create_room: {rounds} interleaved round(s) per C, {duration_s:g} s windows",
        "  baseline = the story's transaction from asyncpg, six statements; 1-stmt = the same",
        "  rows in one statement; server = rooms serve over WebSocket.",
        "  rooms/s = mean of the rounds; latency over all rounds; CPU ms per room:",
        "  srv = rooms serve, pg = PostgreSQL, cli = load generator; RSS = server at window end",
        f"  {'':<9}{'C':>4}{'rooms/s':>9}  {'per round':<20}{'p50 ms':>7}{'p99 ms':>8}{'max ms':>8}"
        f"{'srv cpu':>9}{'pg cpu':>9}{'cli cpu':>9}{'RSS MiB':>9}  errors",
    ]
    for runs in every:
        lines += [_row(kind, runs.clients, measured) for kind, measured in runs.kinds.items()]
    lines.append("")
    for runs in every:
        server, baseline = runs.kinds[SERVER], runs.kinds[BASELINE]
        p99 = Latencies.of(s for r in server for s in r.window.latencies_ms).p99_ms
        each = " ".join(
            f"{s.window.rate / b.window.rate:.2f}" for s, b in zip(server, baseline, strict=True)
        )
        lines.append(
            f"  C={runs.clients}: server/baseline = {_rate(server) / _rate(baseline):.2f}"
            f" (per round {each});  server {_rate(server):,.0f} rooms/s, p99 {p99:.1f} ms"
        )
        cpu = [r.server_cpu_s for r in server]
        system = [r.server_system_s for r in server]
        lines.append(
            f"  C={runs.clients}: server CPU {_per_room_ms(server, cpu):.3f} ms/room, of which"
            f" {_per_room_ms(server, system):.3f} in the kernel"
        )
        if ONE_STATEMENT in runs.kinds:
            ceiling = _rate(runs.kinds[ONE_STATEMENT]) / _rate(baseline)
            lines.append(f"  C={runs.clients}: 1-stmt/baseline = {ceiling:.2f}")
    lines.append(
        "  goals: server/baseline >= 0.80 at C=32; >= 1,650 rooms/s with p99 <= 53 ms at C=64"
    )
    return lines


def idle_lines(figures: Sequence[IdleFigures]) -> list[str]:
    lines = [
        "idle authenticated connections: (RSS with N open - RSS at rest) / N;"
        " rooms serve: each connection created (and follows) one room unless --idle-no-rooms",
        f"  {'endpoint':<34}{'N':>6}{'RSS MiB':>10}{'KiB/conn':>10}  refused",
    ]
    for fig in figures:
        lines.append(f"  {fig.name:<34}{0:>6}{fig.rss_at_rest / MIB:>10.1f}{'':>10}")
        for level in fig.levels:
            refused = ", ".join(f"{k}={v}" for k, v in sorted(level.refused.items())) or "0"
            lines.append(
                f"  {'':<34}{level.connections:>6}{level.rss / MIB:>10.1f}"
                f"{level.per_connection / 1024:>10.1f}  {refused}"
            )
    if len(figures) == 2:
        bare, rooms = figures
        for b, r in zip(bare.levels, rooms.levels, strict=True):
            lines.append(
                f"  N={b.connections}: rooms/bare per connection = "
                f"{r.per_connection / b.per_connection:.2f}"
            )
    lines.append("  goal: rooms/bare per connection <= 1.10")
    return lines


def fanout_lines(fig: FanoutFigures, rate: float) -> list[str]:
    lat = fig.latencies
    return [
        f"publish -> client on room:{{id}}:events, {fig.subscribers} subscribed connections,"
        f" {fig.published} events at {rate:,.0f}/s",
        f"  delivered {fig.delivered} of {fig.published - fig.unheard} heard"
        f" ({fig.unheard} published with no subscriber, {fig.lost_connections} connections lost)",
        f"  p50 {lat.p50_ms:.2f} ms   p99 {lat.p99_ms:.2f} ms   max {lat.max_ms:.2f} ms",
        "  goal: p99 <= 5 ms",
    ]


def _ms_per(seconds: float | None, count: int) -> float:
    return 1000.0 * seconds / count if seconds is not None and count else math.nan


def lobby_lines(figures: Sequence[LobbyFigures], duration_s: float) -> list[str]:
    lines = [
        f"lobby: pairs of players, each cycle create, join by code, both ready, start,"
        f" guest leaves, host leaves; {duration_s:g} s windows",
        "  ops/s = replies inside the window; latency = request sent -> its reply",
        f"  {'pairs':>5}  {'request':<12}{'ops/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}",
    ]
    for fig in figures:
        result = fig.result
        for type_ in REQUEST_TYPES:
            lat = Latencies.of(result.replies_ms.get(type_, []))
            lines.append(
                f"  {fig.pairs:>5}  {type_:<12}{lat.count / result.window_s:>8,.0f}"
                f"{lat.p50_ms:>8.1f}{lat.p99_ms:>8.1f}{lat.max_ms:>8.1f}"
            )
        requests = sum(len(v) for v in result.replies_ms.values())
        lobbies = len(result.replies_ms.get("start_game", []))
        errors = ", ".join(f"{k}={v}" for k, v in sorted(result.errors.items())) or "0"
        lines.append(
            f"  pairs={fig.pairs}: {lobbies / result.window_s:,.0f} lobbies/s,"
            f" {requests / result.window_s:,.0f} requests/s; CPU ms per request (all types):"
            f" srv {_ms_per(fig.server_cpu_s, requests):.3f},"
            f" pg {_ms_per(fig.postgres_cpu_s, requests):.3f},"
            f" cli {_ms_per(result.client_cpu_s, requests):.3f}; errors {errors}"
        )
    lines += [
        "  event delivery: the request sent by one member -> the event on the other's socket",
        f"  {'pairs':>5}  {'event':<14}{'count':>6}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}",
    ]
    for fig in figures:
        events = fig.result.events_ms
        for name in [*sorted(events), "all"]:
            samples = events[name] if name != "all" else [x for v in events.values() for x in v]
            lat = Latencies.of(samples)
            lines.append(
                f"  {fig.pairs:>5}  {name:<14}{lat.count:>6}"
                f"{lat.p50_ms:>8.1f}{lat.p99_ms:>8.1f}{lat.max_ms:>8.1f}"
            )
        lines.append(
            f"  pairs={fig.pairs}: {fig.result.unheard_events} expected events never heard"
        )
    return lines


def crowd_lines(fig: CrowdFigures) -> list[str]:
    result = fig.result
    lines = [
        f"crowd: {fig.rooms} rooms x {fig.members} members; one request type per window"
        f" (set_ready at {fig.rate:g}/s, join and leave as fast as 64 in flight allow)",
        "  srv cpu = server CPU in the window / requests; net = less the quiet window's"
        f" background ({fig.server_cpu_s[QUIET] / fig.window_s[QUIET] * 100:.1f} % of a core)",
        f"  {'request':<12}{'ok':>7}{'window s':>10}{'p50 ms':>8}{'p99 ms':>8}{'srv cpu ms':>12}"
        f"{'net ms':>8}",
    ]
    for type_ in WINDOWS:
        lat = Latencies.of(result.replies_ms.get(type_, []))
        lines.append(
            f"  {type_:<12}{result.ok[type_]:>7}{fig.window_s[type_]:>10.1f}"
            f"{lat.p50_ms:>8.1f}{lat.p99_ms:>8.1f}{fig.cpu_ms_per(type_, net=False):>12.3f}"
            f"{fig.cpu_ms_per(type_):>8.3f}"
        )
    event = Latencies.of(result.events_ms)
    errors = ", ".join(f"{k}={v}" for k, v in sorted(result.errors.items())) or "0"
    lines += [
        f"  player_ready, request sent -> each other member's socket: {event.count} events,"
        f" p50 {event.p50_ms:.2f} ms, p99 {event.p99_ms:.2f} ms, max {event.max_ms:.2f} ms;"
        f" {result.unheard_events} never heard",
        f"  errors {errors}",
    ]
    return lines
