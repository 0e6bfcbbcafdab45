"""A wrapper (``--server-wrapper``) that shows where an idle connection's memory goes.

The idle phase holds the server still at each level (nothing sent for
1.5 s before the RSS is read). This wrapper runs the server under
``tracemalloc`` and, from a thread, snapshots it each time the traced total
has been still for a moment after changing: at rest, then at each level.
Each plateau is dumped as ``snap-K.pickle``. (No count of objects by type:
``gc.get_objects()`` from a thread can catch a tuple being built by the main
thread, which then fails with a SystemError on CPython 3.11.)

    make bench ARGS="--phases idle --idle 2000,10000 \\
      --server-wrapper '$PWD/.venv/bin/python $PWD/benchmarks/memprof.py /tmp/mem 6'"
    .venv/bin/python -m benchmarks.memprof --report /tmp/mem 0 2 10000

The arguments are the output directory and the frames kept per allocation,
then the script and its arguments. ``--report DIR A B N`` prints the growth
from plateau A to plateau B divided by N (the connections opened between
them), by line and by the innermost line of ours in the stack.
"""

from __future__ import annotations

import contextlib
import runpy
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

POLL_S = 0.2
STILL_POLLS = 3  # polls in a row within STILL_FRACTION of each other
STILL_FRACTION = 0.002
MOVED_FRACTION = 0.02  # a plateau at least this far from the last one is new
OURS = ("/rooms_ws/", "/rooms_adapters/", "/rooms_domain/")


class PlateauSnapshots:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._count = 0
        self._last = -1

    def watch(self) -> None:
        recent: list[int] = []
        while True:
            time.sleep(POLL_S)
            size = tracemalloc.get_traced_memory()[0]
            recent = [*recent[-(STILL_POLLS - 1) :], size]
            if len(recent) < STILL_POLLS or max(recent) - min(recent) > size * STILL_FRACTION:
                continue
            if self._last >= 0 and abs(size - self._last) < self._last * MOVED_FRACTION:
                continue
            self._dump()
            self._last = tracemalloc.get_traced_memory()[0]

    def _dump(self) -> None:
        snapshot = tracemalloc.take_snapshot()
        k = self._count
        self._count += 1
        snapshot.dump(str(self._directory / f"snap-{k}.pickle"))
        total = sum(s.size for s in snapshot.statistics("filename"))
        print(f"memprof: plateau {k}, {total / 2**20:.1f} MiB traced", file=sys.stderr)


def _ours(frames: tracemalloc.Traceback) -> str:
    for frame in reversed(frames):  # the allocation's own frame is the last one
        if any(part in frame.filename for part in OURS):
            return f"{frame.filename.rsplit('/src/', 1)[-1]}:{frame.lineno}"
    return "(not ours)"


def report(directory: Path, a: int, b: int, per: int) -> str:
    before = tracemalloc.Snapshot.load(str(directory / f"snap-{a}.pickle"))
    after = tracemalloc.Snapshot.load(str(directory / f"snap-{b}.pickle"))
    lines = []
    total = sum(d.size_diff for d in after.compare_to(before, "filename"))
    lines.append(f"traced growth per connection: {total / per:,.0f} B")
    lines.append("\nby line (B and blocks per connection):")
    for diff in after.compare_to(before, "lineno")[:30]:
        frame = diff.traceback[0]
        where = f"{frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno}"
        lines.append(f"  {diff.size_diff / per:8,.0f}  {diff.count_diff / per:6.2f}  {where}")
    lines.append("\nby the innermost line of ours in the stack:")
    ours: Counter[str] = Counter()
    for diff in after.compare_to(before, "traceback"):
        ours[_ours(diff.traceback)] += diff.size_diff
    for where, size in ours.most_common(20):
        lines.append(f"  {size / per:8,.0f}  {where}")
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--report"]:
        directory, a, b, per = Path(sys.argv[2]), *map(int, sys.argv[3:6])
        print(report(directory, a, b, per), end="")
        return
    directory, frames = Path(sys.argv[1]), int(sys.argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    sys.argv = sys.argv[3:]
    tracemalloc.start(frames)
    watcher = PlateauSnapshots(directory)
    threading.Thread(target=watcher.watch, name="memprof", daemon=True).start()
    with contextlib.suppress(SystemExit):
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
