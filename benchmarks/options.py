"""Command-line flags; the defaults finish in about four minutes on 2 cores."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.wsclient import Compression

PHASES = ("create", "idle", "fanout", "lobby", "crowd", "scale")


@dataclass(frozen=True, slots=True)
class Options:
    phases: tuple[str, ...]
    clients: tuple[int, ...]
    duration_s: float
    warmup_s: float
    rounds: int
    idle_levels: tuple[int, ...]
    subscribers: int
    pairs: tuple[int, ...]
    events: int
    event_rate: float
    workers: int
    compression: Compression
    profile: Path | None
    logs: Path | None
    server_wrapper: tuple[str, ...]
    server_env: tuple[tuple[str, str], ...]
    one_statement: bool
    profile_native: bool
    gc_compare: bool
    crowd_rooms: int
    crowd_members: int
    crowd_rate: float
    scale_clients: int
    scale_rounds: int
    idle_follow: bool


def _counts(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need positive integers: {text!r}")
    return values


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("ROOMS_"):
        raise argparse.ArgumentTypeError(f"expected ROOMS_NAME=VALUE: {text!r}")
    return name, value


def _phases(text: str) -> tuple[str, ...]:
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = set(chosen) - set(PHASES)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"phases are among {', '.join(PHASES)}: {text!r}")
    return tuple(p for p in PHASES if p in chosen)


def parse(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the rooms server against its own floor; prints figures only.",
    )
    add = parser.add_argument
    add(
        "--phases",
        type=_phases,
        default=PHASES,
        help="create,idle,fanout,lobby,crowd,scale (default: all)",
    )
    add("--clients", type=_counts, default=(32, 64), help="concurrent clients (default 32,64)")
    add("--duration", type=float, default=4.0, help="seconds per measured window (default 4)")
    add("--warmup", type=float, default=1.0, help="seconds before each window (default 1)")
    add("--rounds", type=int, default=3, help="interleaved rounds per concurrency (default 3)")
    add(
        "--idle",
        type=_counts,
        default=(1000, 10000),
        help="idle connection levels (default 1000,10000)",
    )
    add(
        "--idle-no-rooms",
        action="store_true",
        help="idle connections follow no room (by default each creates one first)",
    )
    add("--subscribers", type=int, default=1000, help="subscribed connections (fanout)")
    add("--pairs", type=_counts, default=(16, 32), help="pairs of players (lobby; default 16,32)")
    add("--events", type=int, default=3000, help="events published (fanout)")
    add("--event-rate", type=float, default=1000.0, help="events published per second")
    add("--workers", type=int, default=1, help="`rooms serve --workers` (default 1)")
    add(
        "--compression",
        choices=("deflate", "none"),
        default="none",
        help="what clients offer, like a browser (deflate) or not (none)",
    )
    add(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the server's last create window into this file",
    )
    add("--logs", type=Path, default=None, help="copy the servers' logs into this directory")
    add(
        "--server-wrapper",
        default="",
        help="command put before `rooms serve`, e.g. 'pyinstrument -r text -o prof.txt'",
    )
    add(
        "--server-env",
        type=_setting,
        action="append",
        default=[],
        metavar="ROOMS_X=VALUE",
        help="a setting for the server (repeatable), e.g. ROOMS_DB_POOL_MAX_SIZE=20",
    )
    add(
        "--one-statement",
        action="store_true",
        help="also run the story's rows as one statement from asyncpg (the ceiling)",
    )
    add(
        "--profile-native",
        action="store_true",
        help="with --profile: native frames and system calls (pauses the server per sample)",
    )
    add(
        "--no-gc-compare",
        action="store_true",
        help="skip the create windows of a server with ROOMS_GC_FREEZE=false",
    )
    add("--crowd-rooms", type=int, default=1000, help="rooms of the crowd phase (default 1000)")
    add("--crowd-members", type=int, default=4, help="members per crowd room (default 4)")
    add(
        "--crowd-rate",
        type=float,
        default=200.0,
        help="set_ready requests per second in the crowd phase (default 200)",
    )
    add("--scale-clients", type=int, default=32, help="clients of the scale phase (default 32)")
    add("--scale-rounds", type=int, default=2, help="rounds of the scale phase (default 2)")
    ns = parser.parse_args(argv)
    return Options(
        phases=ns.phases,
        clients=ns.clients,
        duration_s=ns.duration,
        warmup_s=ns.warmup,
        rounds=max(1, ns.rounds),
        idle_levels=tuple(sorted(ns.idle)),
        subscribers=ns.subscribers,
        pairs=ns.pairs,
        events=ns.events,
        event_rate=ns.event_rate,
        workers=ns.workers,
        compression=ns.compression,
        profile=ns.profile,
        logs=ns.logs,
        server_wrapper=tuple(shlex.split(ns.server_wrapper)),
        server_env=tuple(ns.server_env),
        one_statement=ns.one_statement,
        profile_native=ns.profile_native,
        gc_compare=not ns.no_gc_compare,
        crowd_rooms=max(1, ns.crowd_rooms),
        crowd_members=min(4, max(2, ns.crowd_members)),
        crowd_rate=ns.crowd_rate,
        scale_clients=max(2, ns.scale_clients),
        scale_rounds=max(1, ns.scale_rounds),
        idle_follow=not ns.idle_no_rooms,
    )
