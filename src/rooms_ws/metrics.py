"""Prometheus metrics on their own opt-in listener (ROOMS_METRICS_PORT).

The public port stays WebSocket-only. The listener binds to
``ROOMS_METRICS_HOST`` (127.0.0.1 unless set: it never follows ROOMS_HOST,
so exposing the server does not expose its metrics) and runs on the
server's event loop (``metrics_listener``). With ``--workers N`` each worker
serves its own registry on ``ROOMS_METRICS_PORT + worker index``.

Counted by the entrypoint as things happen:

    rooms_open_connections                      WebSockets open now
    rooms_connections_closed_total{code}        closed sockets, by close code
    rooms_handshakes_refused_total{status}      refusals, by HTTP status
    rooms_requests_total{type,outcome}          answered frames, by outcome code
    rooms_request_seconds{type}                 time to answer (histogram)
    rooms_create_code_draws                     join codes drawn per room created
    rooms_live_state_misses_total               rooms committed without their Redis view

Written by the sweep (``rooms_ws.sweep``), in the instance whose round acted:

    rooms_sweep_rounds_total{outcome}           acted / skipped (another instance held it) / failed
    rooms_sweep_seconds                         duration of a round that acted (histogram)
    rooms_sweep_deleted_total{kind}             rows deleted: room (closed), idempotency
    rooms_sweep_views_rebuilt_total             live views rebuilt (missing or stale)
    rooms_sweep_backlog{kind}                   closed_rooms_waiting (seen, not yet past their
                                                retention), views_rebuilt_last_round
    rooms_rooms{status}                         rooms per status (counted at most once a minute)

Read from the adapters at scrape time: see ``metrics_adapters``. The client
library's default collectors add ``process_resident_memory_bytes`` and friends.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from rooms_domain.use_cases.release_seats import Released
from rooms_ws.errors import CloseCode
from rooms_ws.metrics_adapters import AdapterCollector, AdapterSources
from rooms_ws.metrics_listener import MetricsListener
from rooms_ws.registry import ConnectionRegistry
from rooms_ws.settings import Settings

logger = logging.getLogger(__name__)

WORKER_INDEX_ENV = "ROOMS_WORKER_INDEX"

REQUESTS = Counter("rooms_requests_total", "Requests answered", ["type", "outcome"])
LATENCY = Histogram("rooms_request_seconds", "Time to answer a request", ["type"])
OPEN_CONNECTIONS = Gauge("rooms_open_connections", "WebSockets open in this process")
REFUSED = Counter("rooms_handshakes_refused_total", "Handshakes refused", ["status"])
CLOSED = Counter("rooms_connections_closed_total", "WebSockets closed, by close code", ["code"])
CODE_DRAWS = Histogram(
    "rooms_create_code_draws",
    "Join codes drawn to create one room (more than 1 when a code was taken)",
    buckets=(1, 2, 3, 4, 6, 8, 16, 32, 64, 128),
)
LIVE_STATE_MISSES = Counter(
    "rooms_live_state_misses_total",
    "Rooms committed whose live view could not be written to Redis",
)
SEATS_RELEASED = Counter(
    "rooms_seats_released_total", "Held seats this process released", ["reason"]
)


def count_released(released: Iterable[Released]) -> None:
    """Count what a run of the held-seat release (ReleaseExpiredSeats) released."""
    for one in released:
        seat_released(one)


def seat_released(one: Released) -> None:
    """ReleaseExpiredSeats' ``on_released``: one held seat released."""
    SEATS_RELEASED.labels(one.reason.value).inc()


SWEEP_ROUNDS = Counter("rooms_sweep_rounds_total", "Sweep rounds, by outcome", ["outcome"])
SWEEP_SECONDS = Histogram(
    "rooms_sweep_seconds",
    "Duration of a sweep round that acted",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SWEEP_DELETED = Counter("rooms_sweep_deleted_total", "Rows the sweep deleted", ["kind"])
SWEEP_VIEWS_REBUILT = Counter(
    "rooms_sweep_views_rebuilt_total", "Live views the sweep rebuilt (missing or stale)"
)
SWEEP_BACKLOG = Gauge(
    "rooms_sweep_backlog", "The sweep's backlog, as its last round saw it", ["kind"]
)
ROOMS_BY_STATUS = Gauge("rooms_rooms", "Rooms per status (the sweep counts them)", ["status"])

# Close codes worth a label of their own; a client may send any 1000-4999,
# and label values must stay few.
_KNOWN_CLOSE_CODES = frozenset({1000, 1001, 1005, 1006, 1007, 1011} | {int(c) for c in CloseCode})

ADAPTERS = AdapterCollector()
REGISTRY.register(ADAPTERS)


def close_code_label(code: int | None) -> str:
    if code is None:
        return "none"
    return str(code) if code in _KNOWN_CLOSE_CODES else "other"


def listener_port(settings: Settings) -> int | None:
    """This process's metrics port: ``ROOMS_METRICS_PORT`` + its worker index."""
    if settings.metrics_port is None:
        return None
    return settings.metrics_port + int(os.environ.get(WORKER_INDEX_ENV, "0"))


def port_clash(settings: Settings, port: int, workers: int) -> str | None:
    """Why the metrics listeners would take the server's own port, or None."""
    first = settings.metrics_port
    if first is None or not first <= port < first + workers:
        return None
    clash = (
        "is the server's own port"
        if workers == 1
        else f"gives the {workers} workers ports {first}-{first + workers - 1},"
        f" among them the server's own port {port}"
    )
    return f"ROOMS_METRICS_PORT={first} {clash}: set ROOMS_METRICS_PORT to another port"


async def start(
    settings: Settings, registry: ConnectionRegistry, sources: AdapterSources | None = None
) -> MetricsListener | None:
    """Point the gauges at this app's objects and open the listener, if one is configured."""
    OPEN_CONNECTIONS.set_function(lambda: registry.total)
    ADAPTERS.sources = sources if sources is not None else AdapterSources()
    port = listener_port(settings)
    if port is None:
        return None
    try:
        listener = await MetricsListener.start(settings.metrics_host, port)
    except OSError:
        logger.warning(
            "metrics listener could not bind",
            exc_info=True,
            extra={"host": settings.metrics_host, "port": port},
        )
        return None
    logger.info("metrics listening", extra={"host": settings.metrics_host, "port": port})
    return listener
