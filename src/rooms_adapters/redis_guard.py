"""One bounded call to Redis through a circuit breaker: the guard every Redis adapter shares.

    breaker open --> skipped (raised at once, Redis not touched)
    call within timeout_s --> its result; the breaker closes if this was its trial
    timeout, RedisError, OSError --> the breaker opens (logged once per opening); unavailable
    caller cancelled late in the bound --> counted as Redis being slow (breaker opens)
    caller cancelled early --> says nothing about Redis: only a trial is given back

The late-cancel rule is there because a caller's own bound, entered first,
usually fires before ours when both are equal: the guard then sees a
cancellation rather than its own timeout, and must still count a slow Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from rooms_adapters.circuit_breaker import BreakerState, CircuitBreaker
from rooms_adapters.redis_errors import RedisAdapterError

T = TypeVar("T")


class RedisGuard:
    """Bounds each call by ``timeout_s`` and reports it to ``breaker``.

    ``name`` starts every message and log line (``live state``, ``room events``);
    a failure raises ``unavailable``, a call refused by the open breaker
    ``skipped`` (a subclass of it), each with the driver's exception as
    ``__cause__`` when there is one.
    """

    __slots__ = ("_logger", "_name", "_skipped", "_unavailable", "breaker", "timeout_s")

    def __init__(
        self,
        breaker: CircuitBreaker,
        *,
        timeout_s: float,
        name: str,
        logger: logging.Logger,
        unavailable: type[RedisAdapterError],
        skipped: type[RedisAdapterError],
    ) -> None:
        self.breaker = breaker
        self.timeout_s = timeout_s
        self._name = name
        self._logger = logger
        self._unavailable = unavailable
        self._skipped = skipped

    async def run(self, call: Callable[[], Awaitable[T]], subject: object = None) -> T:
        """``call()`` within the bound; ``subject`` (a room id, say) only names it in errors."""
        breaker = self.breaker
        if not breaker.allow():
            raise self._skipped(
                f"{self._about(subject)}: Redis skipped, circuit open after a recent failure"
            )
        # allow() admits exactly one caller while half-open: this one.
        trial = breaker.state is BreakerState.HALF_OPEN
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await call()
        except TimeoutError as exc:
            self.failed(f"no answer within {self.timeout_s}s")
            raise self._unavailable(
                f"{self._about(subject)}: Redis did not answer within {self.timeout_s}s"
            ) from exc
        except (RedisError, OSError) as exc:
            self.failed(f"{type(exc).__name__}: {exc}")
            raise self._unavailable(f"{self._about(subject)}: Redis failed: {exc}") from exc
        except asyncio.CancelledError:
            if loop.time() - started >= self.timeout_s / 2:
                self.failed("no answer before the caller gave up")
            elif trial:
                breaker.abandon_trial()
            raise
        except BaseException:
            # Not Redis's doing (a bug, say): it must not leave a trial pending for good.
            if trial:
                breaker.abandon_trial()
            raise
        self.succeeded(trial)
        return result

    def succeeded(self, trial: bool) -> None:
        """A call answered (``trial``: the one admitted while half-open)."""
        if trial:
            self._logger.info("%s: Redis answers again; circuit closed", self._name)
        self.breaker.record_success()

    def _about(self, subject: object) -> str:
        return self._name if subject is None else f"{self._name} ({subject})"

    def failed(self, reason: str) -> None:
        """A call failed or went unanswered: the breaker opens."""
        # Logged once per opening, not once per call.
        message = f"{self._name}: Redis failing (%s); skipping it for %.1fs"
        self.breaker.record_failure_logged(self._logger, message, reason)
