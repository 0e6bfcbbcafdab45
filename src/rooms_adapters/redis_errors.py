"""Errors of the Redis adapters.

    RedisAdapterError
    ├── LiveStateUnavailable   a cache call failed or timed out
    │   └── LiveStateSkipped   ... or was not even tried: the circuit breaker is open
    └── EventsUnavailable      a publish failed or timed out
        └── EventsSkipped      ... or was not even tried: the bus's breaker is open

They are not domain errors on purpose: the cache is best effort, and the
use case logs a failed write and answers anyway (see ``rooms_domain.errors``).
``LiveStateUnavailable`` is a ``rooms_domain.LiveStateFailure``, the port's
name for an outage its adapter has already reported: the use case then logs
one brief line per room, without a traceback. The driver's exception, when
there is one, is kept as ``__cause__``.
"""

from __future__ import annotations

from rooms_domain.ports import LiveStateFailure


class RedisAdapterError(Exception):
    """Root of the errors the Redis adapters raise."""


class LiveStateUnavailable(RedisAdapterError, LiveStateFailure):
    """The live-state cache could not be read or written this time."""


class LiveStateSkipped(LiveStateUnavailable):
    """Redis was not called: it failed recently and the circuit breaker is open."""


class EventsUnavailable(RedisAdapterError):
    """A room event could not be published."""


class EventsSkipped(EventsUnavailable):
    """Redis was not called: it failed recently and the event bus's breaker is open."""
