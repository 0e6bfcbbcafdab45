"""``python -m benchmarks``: bring everything up, run the phases, print, clean up."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from benchmarks import options as cli_options
from benchmarks import (
    phase_create,
    phase_crowd,
    phase_fanout,
    phase_idle,
    phase_lobby,
    phase_scale,
    report,
)
from benchmarks.bench import Bench
from benchmarks.database import add_users, apply_schema
from benchmarks.goals import RunFigures, goal_lines
from benchmarks.machine import describe
from benchmarks.process import clean_env
from benchmarks.procfs import raise_open_file_limit
from benchmarks.services import services
from benchmarks.tokens import sign_all


def say(line: str = "") -> None:
    print(line, flush=True)


def say_block(lines: Iterable[str]) -> None:
    """A phase's report lines, a blank line either side."""
    say()
    for line in lines:
        say(line)
    say()


def _users_needed(opts: cli_options.Options) -> int:
    needed = [1]
    if "create" in opts.phases:
        needed.append(max(opts.clients))
    if "idle" in opts.phases:
        needed.append(max(opts.idle_levels))
    if "fanout" in opts.phases:
        needed.append(opts.subscribers)
    if "lobby" in opts.phases:
        needed.append(2 * max(opts.pairs))
    if "crowd" in opts.phases:
        needed.append(opts.crowd_rooms * opts.crowd_members)
    if "scale" in opts.phases:
        needed.append(opts.scale_clients)
    return max(needed)


def keep_logs(scratch: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for log in scratch.glob("*.log"):
        shutil.copy2(log, target / log.name)


def main(argv: Sequence[str] | None = None) -> int:
    opts = cli_options.parse(argv)
    started = time.monotonic()
    limit = raise_open_file_limit()
    with tempfile.TemporaryDirectory(prefix="rooms-bench-") as tmp, services(Path(tmp)) as svc:
        say("rooms benchmark")
        for line in describe(svc.dsn, svc.redis_url, svc.postgres_origin, svc.redis_origin):
            say(f"  {line}")
        say(f"  open files limit {limit}; clients offer compression: {opts.compression}")
        apply_schema(svc.dsn, clean_env())
        apply_schema(svc.baseline_dsn, clean_env())
        user_ids = add_users(svc.dsn, _users_needed(opts), svc.baseline_dsn)
        secret = Bench.new_secret()
        bench = Bench(opts, Path(tmp), svc, secret, user_ids, sign_all(secret, user_ids))
        say(f"  set-up {time.monotonic() - started:.1f} s")
        say()
        figures = RunFigures()
        if "create" in opts.phases:
            every = figures.create = phase_create.run(bench, say)
            say_block(report.create_lines(every, opts.duration_s, opts.rounds))
        if "idle" in opts.phases:
            idle = figures.idle = phase_idle.run(bench, say)
            say_block(report.idle_lines(idle))
        if "fanout" in opts.phases:
            fanout = phase_fanout.run(bench, say)
            say_block(report.fanout_lines(fanout, opts.event_rate))
        if "lobby" in opts.phases:
            lobby = phase_lobby.run(bench, say)
            say_block(report.lobby_lines(lobby, opts.duration_s))
        if "crowd" in opts.phases:
            crowd = figures.crowd = phase_crowd.run(bench, say)
            say_block(report.crowd_lines(crowd))
        if "scale" in opts.phases:
            figures.scale = phase_scale.run(bench, say)
            say()
        for line in goal_lines(figures):
            say(line)
        say()
        if opts.logs is not None:
            keep_logs(Path(tmp), opts.logs)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    say(f"total {time.monotonic() - started:.0f} s; load avg {load} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
