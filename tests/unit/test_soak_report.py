"""The soak's verdict: what it counts as a replay, and every invariant it refuses to pass."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from soak.database import Written
from soak.report import Run, failures, render
from soak.tally import Tally

RUN = Run(
    clients=2,
    seconds=1.0,
    redis_every_s=10.0,
    redis_down_s=3.0,
    postgres="embedded",
    redis_faults=Counter({"kill": 1}),
    server_crashes=0,
    peak_rss_bytes=64 * 2**20,
    log_levels=Counter({"info": 10}),
    log_tracebacks=[],
)


def answered(*rooms: str) -> Tally:
    tally = Tally()
    for i, room in enumerate(rooms):
        tally.ok(f"request-{i}", {"room_id": room, "code": f"CODE{i:02d}"})
    return tally


def test_a_consistent_run_passes_and_says_so() -> None:
    tally = answered("r1", "r2")
    rows = Written({"r1", "r2"}, seats=8, idempotency_rows=2, not_completed=0)
    assert failures(tally, rows, RUN) == []
    assert render(tally, rows, RUN).splitlines()[-1].endswith("PASS")


def test_a_replay_is_counted_and_a_different_one_is_a_mismatch() -> None:
    tally = answered("r1")
    tally.ok("request-0", {"room_id": "r1", "code": "CODE00"})
    assert (tally.replays, tally.replay_mismatches) == (1, 0)
    tally.ok("request-0", {"room_id": "r9", "code": "CODE00"})
    assert (tally.replays, tally.replay_mismatches) == (2, 1)
    assert tally.room_ids == {"r1"}


@pytest.mark.parametrize(
    ("rows", "run", "broken"),
    [
        (Written({"r1", "r2", "r3"}, 12, 3, 0), RUN, "rooms in PostgreSQL (3)"),
        (Written({"r1", "x"}, 8, 2, 0), RUN, "are not the rooms answered"),
        (Written({"r1", "r2"}, 7, 2, 0), RUN, "7 seats for 2 rooms"),
        (Written({"r1", "r2"}, 8, 3, 0), RUN, "3 idempotency rows"),
        (Written({"r1", "r2"}, 8, 2, 1), RUN, "1 idempotency rows not completed"),
        (Written({"r1", "r2"}, 8, 2, 0), replace(RUN, server_crashes=1), "1 server crashes"),
    ],
)
def test_each_broken_invariant_fails_the_run(rows: Written, run: Run, broken: str) -> None:
    found = failures(answered("r1", "r2"), rows, run)
    assert any(broken in line for line in found), found
    assert "FAIL" in render(answered("r1", "r2"), rows, run)


def test_lines_with_a_traceback_are_shown() -> None:
    run = replace(RUN, log_tracebacks=["rooms_ws.session: request failed | KeyError: 'x'"])
    rows = Written({"r1"}, 4, 1, 0)
    text = render(answered("r1"), rows, run)
    assert "1 with a traceback" in text and "KeyError: 'x'" in text


def test_unanswered_creates_and_internal_errors_fail_the_run() -> None:
    tally = answered("r1")
    tally.unsettled = 1
    tally.replies["internal_error"] = 2
    found = failures(tally, Written({"r1"}, 4, 1, 0), RUN)
    assert any("never answered" in line for line in found)
    assert any("2 internal errors" in line for line in found)
