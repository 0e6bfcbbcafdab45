"""Prometheus metrics on their own opt-in listener (ROOMS_METRICS_PORT).

The public port stays WebSocket-only. With ``--workers N`` each worker
serves its own registry on ``ROOMS_METRICS_PORT + worker index``.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from rooms_ws.registry import ConnectionRegistry
from rooms_ws.settings import Settings

logger = logging.getLogger(__name__)

WORKER_INDEX_ENV = "ROOMS_WORKER_INDEX"

REQUESTS = Counter("rooms_requests_total", "Requests answered", ["type", "outcome"])
LATENCY = Histogram("rooms_request_seconds", "Time to answer a request", ["type"])
OPEN_CONNECTIONS = Gauge("rooms_open_connections", "WebSockets open in this process")
REFUSED = Counter("rooms_handshakes_refused_total", "Handshakes refused", ["status"])

_started = False


def start(settings: Settings, registry: ConnectionRegistry) -> None:
    global _started
    OPEN_CONNECTIONS.set_function(lambda: registry.total)
    if settings.metrics_port is None or _started:
        return
    port = settings.metrics_port + int(os.environ.get(WORKER_INDEX_ENV, "0"))
    try:
        start_http_server(port, addr=settings.host)
    except OSError:
        logger.warning("metrics listener could not bind", exc_info=True, extra={"port": port})
        return
    _started = True
    logger.info("metrics listening", extra={"port": port})
