"""Latency percentiles and the result of one measured window."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN when there are none)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class Latencies:
    """p50 / p99 / max of a set of latencies, in milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, samples_ms: Iterable[float]) -> Latencies:
        ordered = sorted(samples_ms)
        return cls(
            count=len(ordered),
            p50_ms=percentile(ordered, 0.50),
            p99_ms=percentile(ordered, 0.99),
            max_ms=ordered[-1] if ordered else math.nan,
        )


@dataclass(slots=True)
class WindowResult:
    """What a load generator saw during one measured window.

    ``completed`` counts successes that finished inside the window; latencies
    are those of the same requests. ``errors`` counts error replies by code and
    failures of the client itself (``connection_lost``, ``timeout`` ...).
    """

    completed: int
    window_s: float
    latencies_ms: list[float]
    errors: Counter[str] = field(default_factory=Counter)
    client_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.completed / self.window_s if self.window_s > 0 else math.nan
