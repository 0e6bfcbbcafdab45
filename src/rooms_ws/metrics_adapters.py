"""Metrics read from the adapters at scrape time: the Redis breaker, the event bus, the pool.

The adapters keep plain counters and states (they know nothing of
Prometheus); this collector turns them into samples when ``/metrics`` is
scraped, so nothing is counted twice and nothing runs between scrapes.
An adapter replaced by a fake (tests, other services) simply has no samples.

    rooms_redis_cache_failures_total        cache calls that failed or timed out
    rooms_redis_cache_skipped_total         cache calls skipped, breaker open
    rooms_redis_breaker_opened_total        times the breaker opened
    rooms_redis_breaker_state{state}        1 for the current state, else 0
    rooms_redis_events_skipped_total        event-bus waits and publishes skipped, its breaker open
    rooms_redis_events_breaker_state{state} the event bus's own breaker, as above
    rooms_redis_events_connected            1 while the subscriber connection is up
    rooms_redis_events_reconnects_total     subscriber connections re-established
    rooms_room_events_channels              rooms with a listener in this process
    rooms_room_events_delivered_total       messages handed to sockets
    rooms_room_events_dropped_total         messages a too-slow socket never got
    rooms_db_pool_connections{state}        pool connections idle / in use
    rooms_db_pool_max_connections           the pool's upper bound
    rooms_presence_connected                (room, user) pairs this process's sockets follow
    rooms_presence_held_seats               held seats over every instance, as of the last beat
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from rooms_adapters.circuit_breaker import BreakerState, CircuitBreaker
from rooms_adapters.postgres import PostgresUnitOfWorkFactory
from rooms_adapters.redis_events import RedisRoomEvents
from rooms_adapters.redis_live_state import RedisLiveStateCache
from rooms_ws.presence import PresenceTracker

if TYPE_CHECKING:
    from rooms_adapters.postgres.pool import Pool


@dataclass(frozen=True, slots=True)
class AdapterSources:
    """What the collector reads; None for an adapter this process does not use."""

    breaker: CircuitBreaker | None = None
    events: RedisRoomEvents | None = None
    pool: Pool | None = None
    presence: PresenceTracker | None = None

    @classmethod
    def of(
        cls, *, live_state: Any, events: Any, uow_factory: Any, presence: Any = None
    ) -> AdapterSources:
        """Pick the real adapters out of what the container resolved; fakes give nothing."""
        return cls(
            breaker=live_state.breaker if isinstance(live_state, RedisLiveStateCache) else None,
            events=events if isinstance(events, RedisRoomEvents) else None,
            pool=uow_factory.pool if isinstance(uow_factory, PostgresUnitOfWorkFactory) else None,
            presence=presence if isinstance(presence, PresenceTracker) else None,
        )


class AdapterCollector:
    """A prometheus_client collector; :attr:`sources` is set by each app that starts."""

    def __init__(self) -> None:
        self.sources = AdapterSources()

    def collect(self) -> Iterator[Metric]:
        sources = self.sources
        if sources.breaker is not None:
            yield from _breaker(sources.breaker)
        if sources.events is not None:
            yield from _events(sources.events)
        if sources.pool is not None:
            yield from _pool(sources.pool)
        if sources.presence is not None:
            yield from _presence(sources.presence)


def _presence(tracker: PresenceTracker) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "rooms_presence_connected",
        "(room, user) pairs with a socket of this process following the room",
        value=float(tracker.connected_users),
    )
    yield GaugeMetricFamily(
        "rooms_presence_held_seats",
        "Seats held for a disconnected player, over every instance (as of the last beat)",
        value=float(tracker.held_seats),
    )


def _breaker(breaker: CircuitBreaker) -> Iterator[Metric]:
    yield from _counters(
        (
            "rooms_redis_cache_failures",
            "Live-state writes to Redis that failed or timed out",
            breaker.failures,
        ),
        (
            "rooms_redis_cache_skipped",
            "Live-state writes not tried because the Redis circuit breaker was open",
            breaker.rejected,
        ),
        ("rooms_redis_breaker_opened", "Times the Redis circuit breaker opened", breaker.opened),
    )
    yield _state("rooms_redis_breaker_state", "the live-state cache's Redis", breaker)


def _counters(*rows: tuple[str, str, float]) -> Iterator[Metric]:
    """One counter per (name, help, value) row, in order."""
    for name, documentation, value in rows:
        yield CounterMetricFamily(name, documentation, value=value)


def _state(name: str, of: str, breaker: CircuitBreaker) -> Metric:
    state = GaugeMetricFamily(
        name, f"State of the circuit breaker of {of} (1 for the current one)", labels=["state"]
    )
    current = breaker.state
    for candidate in BreakerState:
        state.add_metric([candidate.value], 1.0 if candidate is current else 0.0)
    return state


def _events(events: RedisRoomEvents) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "rooms_redis_events_skipped",
        "Event-bus publishes and subscription waits skipped because its breaker was open",
        value=events.breaker.rejected,
    )
    yield _state("rooms_redis_events_breaker_state", "the event bus's Redis", events.breaker)
    stats = events.stats
    yield GaugeMetricFamily(
        "rooms_redis_events_connected",
        "1 while the Redis pub/sub connection of this process is up",
        value=1.0 if stats.connected else 0.0,
    )
    yield CounterMetricFamily(
        "rooms_redis_events_reconnects",
        "Redis pub/sub connections re-established after one was lost",
        value=stats.reconnects,
    )
    yield GaugeMetricFamily(
        "rooms_room_events_channels",
        "Rooms with at least one listening socket in this process",
        value=events.channels,
    )
    yield from _counters(
        ("rooms_room_events_delivered", "Room events handed to sockets", stats.delivered),
        (
            "rooms_room_events_dropped",
            "Room events a closing socket refused (a too-slow one is closed with 4009)",
            stats.dropped,
        ),
    )


def _pool(pool: Pool) -> Iterator[Metric]:
    size, idle = pool.get_size(), pool.get_idle_size()
    connections = GaugeMetricFamily(
        "rooms_db_pool_connections",
        "PostgreSQL connections of this process's pool",
        labels=["state"],
    )
    connections.add_metric(["in_use"], float(size - idle))
    connections.add_metric(["idle"], float(idle))
    yield connections
    yield GaugeMetricFamily(
        "rooms_db_pool_max_connections",
        "Upper bound of this process's PostgreSQL pool (ROOMS_DB_POOL_MAX_SIZE)",
        value=float(pool.get_max_size()),
    )
