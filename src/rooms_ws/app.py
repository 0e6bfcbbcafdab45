"""``create_app``: the FastAPI application, its container and its lifespan.

The lifespan resolves the gateway (which opens, in order, the embedded
services if no URLs are set, the pool, the Redis client and the event bus)
and closes all of it in reverse on the way out. The app has one route,
``/ws``; no docs, no OpenAPI, nothing else public (any other request gets
the short answer of ``fallback``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from dependency_injector import providers
from fastapi import FastAPI

from rooms_ws import metrics
from rooms_ws.container import Container
from rooms_ws.endpoint import PATH, Gateway, websocket_endpoint
from rooms_ws.fallback import Fallback
from rooms_ws.metrics_adapters import AdapterSources
from rooms_ws.metrics_listener import MetricsListener
from rooms_ws.settings import Settings, load_settings
from rooms_ws.sweep import sweeping

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def resolve(provider: providers.Provider[T]) -> T:
    """The provider's object, typed, whether it depends on an async resource or not.

    Such a provider returns an awaitable, any other the object itself (an
    override in a test, for one); in async mode it always returns an awaitable.
    """
    provider.enable_async_mode()
    return await provider.async_()


async def _adapter_sources(container: Container) -> AdapterSources:
    # Already resolved for the gateway: these calls return the same singletons.
    return AdapterSources.of(
        live_state=await resolve(container.live_state),
        events=await resolve(container.room_events),
        uow_factory=await resolve(container.uow_factory),
        presence=await resolve(container.presence),
    )


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    settings = settings if settings is not None else load_settings()
    if container is None:
        container = Container()
    container.settings.override(providers.Object(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway: Gateway | None = None
        metrics_listener: MetricsListener | None = None
        drained = False
        try:
            gateway = await resolve(container.gateway)
            app.state.gateway = gateway
            registry = gateway.registry

            async def drain() -> None:
                nonlocal drained
                drained = True
                clean = await registry.drain(settings.shutdown_grace_s)
                if not clean:
                    logger.warning(
                        "shutdown grace elapsed with connections still open",
                        extra={"open_connections": registry.total},
                    )

            # Called by rooms_ws.server on SIGTERM, before uvicorn's own shutdown.
            app.state.drain = drain
            metrics_listener = await metrics.start(
                settings, registry, await _adapter_sources(container)
            )
            housekeeping = await resolve(container.housekeeping)
            async with sweeping(housekeeping, settings.sweep_interval_seconds):
                yield
        finally:
            if gateway is not None:
                # After the server's drain this is a backstop only: the grace is
                # spent, and what was left has been closed and cancelled.
                wait_s = min(1.0, settings.shutdown_grace_s) if drained else None
                await gateway.registry.drain(
                    settings.shutdown_grace_s if wait_s is None else wait_s
                )
            if metrics_listener is not None:
                await metrics_listener.close()
            closing = container.shutdown_resources()
            if closing is not None:  # None when no async resource was opened
                await closing

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_api_websocket_route(PATH, websocket_endpoint)
    # Not a route: what any other request gets (a 404 that names /ws).
    app.router.default = Fallback(PATH)
    app.state.container = container
    app.state.settings = settings
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory (``rooms_ws.app:app_from_env``): settings from the environment."""
    return create_app(load_settings())
