"""The checks a soak must pass, and the report it prints (pure: unit-tested without servers)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from soak.database import Written
from soak.tally import Tally
from soak.traffic import REPLY_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class Run:
    clients: int
    seconds: float
    redis_every_s: float
    redis_down_s: float
    postgres: str
    redis_faults: Counter[str]
    server_crashes: int
    peak_rss_bytes: int
    log_levels: Counter[str]  # server log lines by level
    log_tracebacks: list[str]  # "logger: message | exception" of lines with a traceback


def failures(tally: Tally, written: Written, run: Run) -> list[str]:
    """Every invariant the run broke; empty when it passed."""
    broken = []
    if written.room_ids != tally.room_ids:
        broken.append(
            f"rooms in PostgreSQL ({len(written.room_ids)}) are not the rooms answered"
            f" create_room_ok ({len(tally.room_ids)} distinct request ids)"
        )
    if written.seats != 4 * len(written.room_ids):
        broken.append(f"{written.seats} seats for {len(written.room_ids)} rooms")
    if written.idempotency_rows != len(written.room_ids):
        broken.append(f"{written.idempotency_rows} idempotency rows for {len(written.room_ids)}")
    if written.not_completed:
        broken.append(f"{written.not_completed} idempotency rows not completed")
    if tally.replay_mismatches:
        broken.append(f"{tally.replay_mismatches} replays differ from the first answer")
    if tally.unsettled:
        broken.append(f"{tally.unsettled} creates never answered")
    if run.server_crashes:
        broken.append(f"{run.server_crashes} server crashes")
    if tally.replies.get("internal_error"):
        broken.append(f"{tally.replies['internal_error']} internal errors")
    return broken


def render(tally: Tally, written: Written, run: Run) -> str:
    faults = ", ".join(f"{kind} {n}" for kind, n in sorted(run.redis_faults.items())) or "none"
    closes = f" ({dict(sorted(tally.closes.items()))})" if tally.closes else ""
    rows = [
        ("redis faults", f"{sum(run.redis_faults.values())} ({faults})"),
        ("requests sent", tally.requests),
        ("replies by code", ""),
        *((f"  {code}", n) for code, n in sorted(tally.replies.items())),
        (f"no reply within {REPLY_TIMEOUT_S:g} s (retried)", tally.no_reply),
        ("connections closed by the server", f"{sum(tally.closes.values())}{closes}"),
        ("distinct successful request ids", len(tally.answers)),
        ("replays (same answer again)", tally.replays),
        ("rooms in PostgreSQL", len(written.room_ids)),
        ("idempotency rows not completed", written.not_completed),
        ("server crashes", run.server_crashes),
        ("server peak RSS", f"{run.peak_rss_bytes / 2**20:.1f} MiB"),
        (
            "server log lines by level",
            f"{dict(sorted(run.log_levels.items()))}, {len(run.log_tracebacks)} with a traceback",
        ),
        *(("  traceback", summary[:200]) for summary in run.log_tracebacks[:5]),
    ]
    broken = failures(tally, written, run)
    rows.append(("result", "PASS" if not broken else "FAIL"))
    header = (
        f"rooms soak: {run.clients} clients for {run.seconds:g} s; Redis down"
        f" {run.redis_down_s:g} s every {run.redis_every_s:g} s; PostgreSQL {run.postgres}"
    )
    lines = [header, *(f"{label:<34}{value}".rstrip() for label, value in rows)]
    lines.extend(f"  broken: {b}" for b in broken)
    return "\n".join(lines)
