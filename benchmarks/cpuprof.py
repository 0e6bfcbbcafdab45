"""A CPU-time sampling profiler to wrap the server with (``--server-wrapper``).

py-spy samples wall-clock time: a thread preempted inside a ``write`` that has
just woken PostgreSQL counts as busy, so on 2 cores it over-weights the
socket calls. This wrapper samples on ``ITIMER_PROF`` instead, which ticks
only while the process runs on a CPU (user or kernel): the samples fall where
the CPU time goes. Time spent inside a C function is charged to the Python
frame that called it (the handler runs at the next bytecode).

    make bench ARGS="--phases create --clients 64 --rounds 1 --duration 8 \\
      --server-wrapper '$PWD/.venv/bin/python $PWD/benchmarks/cpuprof.py /tmp/cpu.txt 3'"
    .venv/bin/python -m benchmarks.cpuprof --report /tmp/cpu.txt

The arguments are the output file (collapsed stacks, as py-spy's ``raw``
format), the seconds of start-up to leave out, then the script and its
arguments. The overhead is one stack walk per millisecond of CPU.
"""

from __future__ import annotations

import runpy
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType

INTERVAL_S = 0.001


class CpuSampler:
    def __init__(self, skip_s: float) -> None:
        self.stacks: Counter[str] = Counter()
        self._from = time.monotonic() + skip_s

    def sample(self, _signum: int, frame: FrameType | None) -> None:
        if frame is None or time.monotonic() < self._from:
            return
        names = []
        while frame is not None:
            code = frame.f_code
            names.append(f"{code.co_name} ({code.co_filename}:{frame.f_lineno})")
            frame = frame.f_back
        self.stacks[";".join(reversed(names))] += 1

    def write(self, path: Path) -> None:
        path.write_text("".join(f"{stack} {n}\n" for stack, n in self.stacks.items()))


def main() -> None:
    if sys.argv[1:2] == ["--report"]:
        # Imported here: as a wrapper this file runs by path, without the package.
        from benchmarks.profile import summarise

        print(summarise(Path(sys.argv[2]).read_text()), end="")
        return
    output, skip_s = Path(sys.argv[1]), float(sys.argv[2])
    sys.argv = sys.argv[3:]
    sampler = CpuSampler(skip_s)
    signal.signal(signal.SIGPROF, sampler.sample)
    signal.setitimer(signal.ITIMER_PROF, INTERVAL_S, INTERVAL_S)
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit:
        pass
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        sampler.write(output)


if __name__ == "__main__":
    main()
