"""A wrapper (``--server-wrapper``) that times every cyclic GC collection of the server.

A full collection stops the event loop for as long as it walks the tracked
objects; with 64 requests in flight each of them waits that long. This wrapper
hooks ``gc.callbacks`` and, at exit, writes one line per generation: how many
collections, their total and longest pause, and how many paused the loop for
more than 5 ms, leaving out the first seconds (start-up, given as the second
argument). The file name gets the process id and the value of
``ROOMS_GC_FREEZE``, so the create phase's two servers write apart:

    make bench ARGS="--phases create --clients 64 \\
      --server-wrapper '$PWD/.venv/bin/python $PWD/benchmarks/gcprobe.py /tmp/gc 3'"
    cat /tmp/gc.*
"""

from __future__ import annotations

import gc
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

LONG_S = 0.005


class Pauses:
    def __init__(self, skip_s: float) -> None:
        self._from = time.monotonic() + skip_s
        self._started = 0.0
        self.count = [0, 0, 0]
        self.total_s = [0.0, 0.0, 0.0]
        self.longest_s = [0.0, 0.0, 0.0]
        self.long = [0, 0, 0]

    def hook(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if time.monotonic() < self._from:
            return
        spent = time.perf_counter() - self._started
        generation = int(info["generation"])
        self.count[generation] += 1
        self.total_s[generation] += spent
        self.longest_s[generation] = max(self.longest_s[generation], spent)
        self.long[generation] += spent > LONG_S

    def lines(self) -> str:
        freeze = os.environ.get("ROOMS_GC_FREEZE", "default")
        out = [f"pid {os.getpid()} ROOMS_GC_FREEZE={freeze} frozen {gc.get_freeze_count()}"]
        for g in range(3):
            out.append(
                f"  gen{g}: {self.count[g]} collections, {self.total_s[g] * 1000:.1f} ms in all,"
                f" longest {self.longest_s[g] * 1000:.2f} ms,"
                f" {self.long[g]} over {LONG_S * 1000:g} ms"
            )
        return "\n".join(out) + "\n"


def main() -> None:
    output, skip_s = Path(sys.argv[1]), float(sys.argv[2])
    sys.argv = sys.argv[3:]
    pauses = Pauses(skip_s)
    gc.callbacks.append(pauses.hook)
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit:
        pass
    finally:
        freeze = os.environ.get("ROOMS_GC_FREEZE", "default")
        target = output.with_name(f"{output.name}.{freeze}.{os.getpid()}")
        target.write_text(pauses.lines())


if __name__ == "__main__":
    main()
