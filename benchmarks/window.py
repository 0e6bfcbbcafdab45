"""A measured window: warm up, then count only what completes inside it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from benchmarks.stats import WindowResult
from benchmarks.worker import mark


@dataclass(slots=True)
class Window:
    """Start and end (``time.monotonic``) of the window, and what fell inside it.

    The parent is told at both edges (``mark`` "start" and "stop") so it can
    sample the server's CPU time at the same instants.
    """

    start: float
    end: float
    completed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    _cpu_start: float = 0.0
    _cpu_end: float = 0.0

    @classmethod
    def open(cls, channel: Connection, warmup_s: float, duration_s: float) -> Window:
        start = time.monotonic() + warmup_s
        window = cls(start=start, end=start + duration_s)
        loop = asyncio.get_running_loop()
        loop.call_later(warmup_s, window._edge, channel, "start")
        loop.call_later(warmup_s + duration_s, window._edge, channel, "stop")
        return window

    def _edge(self, channel: Connection, name: str) -> None:
        if name == "start":
            self._cpu_start = time.process_time()
        else:
            self._cpu_end = time.process_time()
        mark(channel, name)

    def over(self) -> bool:
        return time.monotonic() >= self.end

    def success(self, sent: float, done: float) -> None:
        if self.start <= done <= self.end:
            self.completed += 1
            self.latencies_ms.append((done - sent) * 1000.0)

    def failure(self, reason: str, done: float) -> None:
        if self.start <= done <= self.end:
            self.errors[reason] += 1

    def result(self) -> WindowResult:
        return WindowResult(
            completed=self.completed,
            window_s=self.end - self.start,
            latencies_ms=self.latencies_ms,
            errors=self.errors,
            client_cpu_s=self._cpu_end - self._cpu_start,
        )
