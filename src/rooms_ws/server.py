"""Running uvicorn: graceful SIGTERM, and ``--workers N`` under our own supervisor.

uvicorn's shutdown closes every WebSocket with 1012 at once, cutting off a
request in flight from its reply. :class:`GracefulServer` first stops
listening, then lets the app drain (each connection finishes its request,
flushes its replies and closes with 1012), then lets uvicorn finish.

uvicorn's own multi-process supervisor always runs its stock ``Server`` in
the workers, so :func:`run_workers` is a small supervisor of our own: it
binds the socket once, spawns N workers that share it, restarts a worker
that dies, and on SIGTERM/SIGINT passes SIGTERM on and waits for them.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from fastapi import FastAPI

from rooms_ws import gc_tuning
from rooms_ws.http_protocol import BoundedHandshakeProtocol
from rooms_ws.logs import log_config
from rooms_ws.metrics import WORKER_INDEX_ENV
from rooms_ws.settings import Settings, load_settings
from rooms_ws.ws_protocol import BoundedWebSocketProtocol, FrameLimits

logger = logging.getLogger(__name__)

APP_FACTORY = "rooms_ws.app:app_from_env"
STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that could not start


def protocol_classes(settings: Settings) -> dict[str, Any]:
    """uvicorn's ``http`` and ``ws`` protocols, bounded (docs/operations.md, "Bounds").

    Partials of module-level classes: the config must pickle for ``--workers N``.
    """
    http = functools.partial(
        BoundedHandshakeProtocol,
        max_head_bytes=settings.max_handshake_bytes,
        handshake_timeout_s=settings.handshake_timeout_seconds,
    )
    limits = FrameLimits(
        max_message_bytes=settings.max_message_bytes,
        max_fragments=settings.max_fragments,
        control_per_second=settings.control_frames_per_second,
        control_burst=settings.control_frames_burst,
    )
    return {
        "http": http,
        "ws": functools.partial(BoundedWebSocketProtocol, limits=limits),
        # h11 bounds the request head it buffers while it is incomplete.
        "h11_max_incomplete_event_size": settings.max_handshake_bytes,
        # Frames over the limit are refused by the protocol layer with 1009.
        "ws_max_size": settings.max_message_bytes,
        "ws_ping_interval": settings.ping_interval_seconds,
        "ws_ping_timeout": settings.ping_interval_seconds,
    }


def uvicorn_config(settings: Settings, *, host: str, port: int, workers: int = 1) -> uvicorn.Config:
    return uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **protocol_classes(settings),
        lifespan="on",
        log_config=log_config(settings.log_level, settings.log_format, settings.request_log_level),
        # uvicorn's access lines carry the query string (and so a token).
        access_log=False,
        server_header=False,
        date_header=False,
        # The whole grace; GracefulServer hands uvicorn what its drain left of it.
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_grace_s)),
    )


def _find_app(app: Any) -> FastAPI | None:
    # uvicorn wraps the app in middleware (proxy headers, ...): unwrap it.
    for _ in range(10):
        if isinstance(app, FastAPI):
            return app
        app = getattr(app, "app", None)
    return None


class GracefulServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting first
        app = _find_app(self.config.loaded_app)
        drain = getattr(app.state, "drain", None) if app is not None else None
        started = time.monotonic()
        if drain is not None:
            try:
                await drain()
            except Exception:
                logger.exception("drain failed")
        grace = self.config.timeout_graceful_shutdown
        if grace is not None:
            # The drain spent the grace on the requests in flight; uvicorn (which
            # closes what is left with 1012, then cancels the tasks still running)
            # gets only the rest of it, so the process exits within the grace.
            left = grace - (time.monotonic() - started)
            self.config.timeout_graceful_shutdown = max(1, math.ceil(left))
        await super().shutdown(sockets)


def serve_forever(config: uvicorn.Config, sockets: list[socket.socket] | None = None) -> None:
    """Run one server in this process until SIGTERM/SIGINT, then return normally."""
    # uvicorn re-raises the signal it caught once it is done, under the handler
    # that was in place before: a no-op here, so the process exits 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    # The app loaded here rather than by uvicorn, so that what it loads is
    # frozen out of the collector's walks (rooms_ws/gc_tuning.py); the tuning
    # is not in GracefulServer, which the tests also run inside their own process.
    config.load()
    gc_tuning.tune(load_settings().gc_freeze)
    GracefulServer(config).run(sockets=sockets)


def _worker(config: uvicorn.Config, sockets: list[socket.socket], index: int) -> None:
    os.environ[WORKER_INDEX_ENV] = str(index)
    serve_forever(config, sockets)


def run_workers(
    config: uvicorn.Config, workers: int, *, grace_s: float, sock: socket.socket | None = None
) -> int:
    """Supervise ``workers`` processes sharing one socket; returns the exit status."""
    sock = sock if sock is not None else config.bind_socket()
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def spawn(index: int) -> BaseProcess:
        process = context.Process(
            target=_worker, args=(config, [sock], index), name=f"rooms-worker-{index}"
        )
        process.start()
        return process

    processes = [spawn(i) for i in range(workers)]
    status = 0
    while not stop.wait(0.5):
        for index, process in enumerate(processes):
            if process.is_alive():
                continue
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker could not start; stopping", extra={"worker": index})
                stop.set()
                status = 1
                break
            logger.warning(
                "worker died; starting another",
                extra={"worker": index, "exitcode": process.exitcode},
            )
            processes[index] = spawn(index)
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s + 10
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
    sock.close()
    return status


def announce_when_listening(host: str, port: int, announce: Callable[[], None]) -> None:
    """Call ``announce`` once the server accepts on host:port (from a daemon thread).

    The caller has bound the port itself, so what answers is this server, and
    only once its app has started: uvicorn listens on the socket after that.
    """

    def poll() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    announce()
                    return
            except OSError:
                time.sleep(0.1)

    threading.Thread(target=poll, name="announce", daemon=True).start()
