"""A wrapper (``--server-wrapper``) that traces what stalls the server's event loop.

The tail of a request is, mostly, time spent waiting for the one thread to
finish someone else's callback. This wrapper times every callback the loop
runs (``asyncio.Handle._run``) in wall-clock and in thread CPU time, and the
cyclic GC's collections (``gc.callbacks``) inside each. A callback that held
the loop for more than ``STALL_S`` of CPU is a stall: its time, CPU, the GC
pause inside it and where it ran (the task's coroutine, or the callback) are
kept. CPU rather than wall time, because on a shared 2-core machine a thread
preempted by another process looks stalled without having held anything.

At exit it writes every generation's collections (how many, their total
and longest pause, how many over ``STALL_S``), the stalls by cause (GC, or
the coroutine) and the longest ones, leaving out the first seconds
(start-up, the second argument). The file name gets the process id and the
value of ``ROOMS_GC_FREEZE``, so the create phase's two servers write apart:

    make bench ARGS="--phases create --clients 64 --rounds 1 \\
      --server-wrapper '$PWD/.venv/bin/python $PWD/benchmarks/stallprobe.py /tmp/stalls 3'"
    cat /tmp/stalls.*

The server normally runs on uvloop, whose callbacks are C and cannot be
timed from Python: under this wrapper uvloop is hidden, so uvicorn falls
back to asyncio's own loop. The callbacks it runs are the same coroutines
(and the same collector); the loop's own overhead differs. The overhead is
two clock reads per callback (about 1 µs): a trace, not a figure to quote
for throughput.
"""

from __future__ import annotations

import asyncio
import gc
import os
import runpy
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STALL_S = 0.005
KEPT = 25


@dataclass(frozen=True, slots=True)
class Stall:
    at_s: float
    wall_ms: float
    cpu_ms: float
    gc_ms: float
    where: str


@dataclass
class Trace:
    skip_until: float
    callbacks: int = 0
    cpu_s: float = 0.0
    gc_ms_now: float = 0.0
    gc_started: float = 0.0
    # Per generation: collections, total ms, longest ms, how many over STALL_S.
    collections: list[list[float]] = field(
        default_factory=lambda: [[0, 0.0, 0.0, 0] for _ in range(3)]
    )
    stalls: list[Stall] = field(default_factory=list)
    causes: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def gc_hook(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.gc_started = time.perf_counter()
            return
        spent_ms = (time.perf_counter() - self.gc_started) * 1000
        self.gc_ms_now += spent_ms
        if time.monotonic() < self.skip_until:
            return
        tally = self.collections[int(info["generation"])]
        tally[0] += 1
        tally[1] += spent_ms
        tally[2] = max(tally[2], spent_ms)
        tally[3] += spent_ms > STALL_S * 1000

    def record(self, handle: asyncio.Handle, wall_s: float, cpu_s: float, gc_ms: float) -> None:
        if time.monotonic() < self.skip_until:
            return
        self.callbacks += 1
        self.cpu_s += cpu_s
        if cpu_s < STALL_S:
            return
        where = _where(handle)
        cause = "gc" if gc_ms >= cpu_s * 1000 / 2 else where.split(" running at ")[0]
        self.causes[cause] += 1
        self.stalls.append(
            Stall(time.monotonic() - self.started, wall_s * 1000, cpu_s * 1000, gc_ms, where)
        )

    def lines(self) -> str:
        freeze = os.environ.get("ROOMS_GC_FREEZE", "default")
        out = [
            f"pid {os.getpid()} ROOMS_GC_FREEZE={freeze}: {self.callbacks} callbacks,"
            f" {self.cpu_s:.2f} s CPU in them; {len(self.stalls)} over {STALL_S * 1000:g} ms CPU",
        ]
        for generation, (count, total, longest, long) in enumerate(self.collections):
            out.append(
                f"  gen{generation}: {count:.0f} collections, {total:.1f} ms in all,"
                f" longest {longest:.2f} ms, {long:.0f} over {STALL_S * 1000:g} ms"
            )
        out.append("stalls by cause:")
        out += [f"  {n:5d}  {cause}" for cause, n in self.causes.most_common()]
        out.append(f"the {KEPT} longest (s since start, wall ms, CPU ms, GC ms inside, where):")
        for s in sorted(self.stalls, key=lambda s: -s.cpu_ms)[:KEPT]:
            out.append(
                f"  {s.at_s:7.2f} {s.wall_ms:7.2f} {s.cpu_ms:7.2f} {s.gc_ms:7.2f}  {s.where[:160]}"
            )
        return "\n".join(out) + "\n"


def _where(handle: asyncio.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        name = getattr(coro, "__qualname__", repr(coro))
        frame = getattr(coro, "cr_frame", None)
        if frame is not None:
            return f"{name} running at {frame.f_code.co_filename}:{frame.f_lineno}"
        return str(name)
    return getattr(callback, "__qualname__", repr(callback))


def install(trace: Trace) -> None:
    original = asyncio.events.Handle._run

    def timed_run(handle: asyncio.Handle) -> None:
        gc_before = trace.gc_ms_now
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            original(handle)
        finally:
            trace.record(
                handle,
                time.perf_counter() - wall,
                time.thread_time() - cpu,
                trace.gc_ms_now - gc_before,
            )

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign,assignment]
    gc.callbacks.append(trace.gc_hook)


def main() -> None:
    output, skip_s = Path(sys.argv[1]), float(sys.argv[2])
    sys.argv = sys.argv[3:]
    trace = Trace(skip_until=time.monotonic() + skip_s)
    sys.modules["uvloop"] = None  # type: ignore[assignment]  # import fails: asyncio's loop
    install(trace)
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit:
        pass
    finally:
        freeze = os.environ.get("ROOMS_GC_FREEZE", "default")
        target = output.with_name(f"{output.name}.{freeze}.{os.getpid()}")
        target.write_text(trace.lines())


if __name__ == "__main__":
    main()
