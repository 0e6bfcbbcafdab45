"""A circuit breaker: after a failure, skip the dependency for a while, then try once.

    CLOSED --failure--> OPEN --open_for_s elapsed, one caller admitted--> HALF_OPEN
    HALF_OPEN --success--> CLOSED;  HALF_OPEN --failure--> OPEN (the wait starts again)
    any --reset (the dependency was seen answering some other way)--> CLOSED

While OPEN, and while the single HALF_OPEN trial is running, every other call
is refused at once: callers of a sick cache should not queue up behind it. A
trial that is cancelled before it reports is abandoned: the next caller gets
to be the trial, so a breaker can never stay half-open for good.
Single-threaded by design (one asyncio loop); the clock is injectable so tests
can move time without sleeping.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts are cumulative, for metrics: ``failures``, ``rejected``, ``opened``."""

    def __init__(
        self, *, open_for_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if open_for_s <= 0:
            raise ValueError("open_for_s must be positive")
        self.open_for_s = open_for_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self.failures = 0
        self.rejected = 0
        self.opened = 0

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow(self) -> bool:
        """Whether a call may go ahead now; the caller must then report its outcome."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.open_for_s:
            # This caller is the one trial; others are refused until it reports.
            self._state = BreakerState.HALF_OPEN
            return True
        self.rejected += 1
        return False

    def record_success(self) -> None:
        # A success that started before another call's failure is stale news:
        # only the trial (or a call while closed) may close the circuit.
        if self._state is not BreakerState.OPEN:
            self._state = BreakerState.CLOSED

    def abandon_trial(self) -> None:
        """The trial ended without an answer (cancelled): let the next caller try instead.

        Not a failure: a caller that went away says nothing about the dependency.
        """
        if self._state is BreakerState.HALF_OPEN:
            self._state = BreakerState.OPEN  # the wait has already elapsed

    def reset(self) -> None:
        """Close now: the owner saw the dependency answer by other means (say, a reconnection)."""
        self._state = BreakerState.CLOSED

    def record_failure(self) -> None:
        self.failures += 1
        if self._state is not BreakerState.OPEN:
            self.opened += 1
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()

    def record_failure_logged(self, logger: logging.Logger, message: str, reason: str) -> None:
        """``record_failure``, and ``message`` (formatted with ``reason`` and ``open_for_s``)
        logged once per opening: a warning when the circuit was closed, info after that.
        So at most once per ``open_for_s`` while the dependency is down, not once per call."""
        was = self._state
        self.record_failure()
        log = logger.warning if was is BreakerState.CLOSED else logger.info
        log(message, reason, self.open_for_s)
