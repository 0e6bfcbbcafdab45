"""The composition root: the only module that knows every concrete class.

Resources (embedded services, the pool, the Redis client, the event bus) are
async generators: dependency-injector opens one when something that needs it
is first resolved and closes it in ``shutdown_resources``, dependents first.
Resolving only what ``/ws`` needs means a test that overrides ``uow_factory``
with the in-memory one never opens a pool. Providers are typed: ``await
container.gateway.async_()`` is a ``Gateway`` to mypy.

What needs no lifecycle and no injection stays a plain function:
:func:`database_service` and :func:`redis_service` (the configured URL or an
embedded server) serve the ``database_url``/``redis_url`` resources and the
``rooms`` CLI alike.

    settings -> database_url -> pool -> uow_factory, user_exists -+
             -> redis_url -> redis -> live_state -------------------+-> create_room, lobby -+
                          -> room_events ----------------------------------------------+-> gateway
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from dependency_injector import containers, providers

from rooms_adapters.circuit_breaker import CircuitBreaker
from rooms_adapters.embedded import configured_or_embedded, in_thread
from rooms_adapters.postgres import (
    PoolSettings,
    PostgresUnitOfWorkFactory,
    apply_schema,
    create_pool,
    user_exists,
)
from rooms_adapters.postgres.housekeeping import PostgresSweepStore
from rooms_adapters.redis_client import redis_client
from rooms_adapters.redis_events import RedisRoomEvents
from rooms_adapters.redis_housekeeping import RedisHousekeeping
from rooms_adapters.redis_live_apply import tombstone_ttl_s
from rooms_adapters.redis_live_state import RedisLiveStateCache
from rooms_adapters.redis_presence import RedisPresence
from rooms_adapters.redis_presence_keys import PresenceKeys
from rooms_domain import (
    CreateRoom,
    LiveStateCache,
    SecureCodeGenerator,
    SystemClock,
    UnitOfWorkFactory,
)
from rooms_domain.housekeeping import Housekeeping, SweepLimits
from rooms_domain.presence import Presence, dead_after_ms
from rooms_domain.use_cases.release_seats import ReleaseExpiredSeats
from rooms_ws import metrics
from rooms_ws.auth import TokenVerifier
from rooms_ws.endpoint import Gateway
from rooms_ws.origins import OriginPolicy
from rooms_ws.presence import PresenceTracker, running
from rooms_ws.rate_limit import KeyedBudget
from rooms_ws.registry import ConnectionRegistry
from rooms_ws.secret import jwt_secret
from rooms_ws.session import LobbyServices, SessionLimits, SessionServices
from rooms_ws.settings import Settings

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from rooms_adapters.postgres.pool import Pool

logger = logging.getLogger(__name__)


def database_service(settings: Settings) -> AbstractContextManager[str]:
    """The configured DSN, or an embedded PostgreSQL under ``ROOMS_DATA_DIR`` for the duration."""
    from rooms_adapters.embedded.postgres import EmbeddedPostgres

    data_dir = Path(settings.data_dir).resolve() / "postgres"
    return configured_or_embedded(settings.database_url, lambda: EmbeddedPostgres(data_dir))


def redis_service(settings: Settings) -> AbstractContextManager[str]:
    """The configured Redis URL, or an embedded Redis under ``ROOMS_DATA_DIR`` for the duration."""
    from rooms_adapters.embedded.redis import EmbeddedRedis

    data_dir = Path(settings.data_dir).resolve() / "redis"
    return configured_or_embedded(settings.redis_url, lambda: EmbeddedRedis(data_dir))


async def _database_url(settings: Settings) -> AsyncIterator[str]:
    async with in_thread(database_service(settings)) as dsn:
        if settings.embedded_database:
            # The embedded database is ours to set up; a configured one is checked by `rooms serve`.
            pool = await create_pool(dsn, PoolSettings(min_size=1, max_size=1))
            try:
                async with pool.acquire() as conn:
                    await apply_schema(conn)
            finally:
                await pool.close()
        yield dsn


async def _redis_url(settings: Settings) -> AsyncIterator[str]:
    async with in_thread(redis_service(settings)) as url:
        yield url


def pool_settings(settings: Settings) -> PoolSettings:
    return PoolSettings(
        min_size=min(settings.db_pool_min_size, settings.db_pool_max_size),
        max_size=settings.db_pool_max_size,
        acquire_timeout_s=settings.db_timeout_s,
        command_timeout_s=settings.db_timeout_s,
        statement_timeout_ms=int(settings.db_timeout_s * 1000),
    )


async def _pool(dsn: str, settings: PoolSettings) -> AsyncIterator[Pool]:
    pool = await create_pool(dsn, settings)
    try:
        yield pool
    finally:
        try:
            # close() waits for every connection to come back, with no bound.
            await asyncio.wait_for(pool.close(), settings.command_timeout_s)
        except TimeoutError:
            # One is still held by a request cancelled at shutdown: closing the
            # socket makes PostgreSQL roll back whatever it left uncommitted.
            logger.warning("pool did not close in time; terminating its connections")
            pool.terminate()


async def _redis(url: str, settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(
        url, redis_timeout_s=settings.redis_timeout_s, client_name="rooms-live-state"
    )
    try:
        yield client
    finally:
        await client.aclose()


async def _room_events(url: str, settings: Settings) -> AsyncIterator[RedisRoomEvents]:
    events = RedisRoomEvents(
        url,
        redis_timeout_s=settings.redis_timeout_s,
        # Its own breaker: the cache's outages and the bus's are told apart.
        breaker=CircuitBreaker(open_for_s=settings.redis_breaker_open_s),
    )
    await events.start()
    try:
        yield events
    finally:
        await events.close()


def _limits(settings: Settings) -> SessionLimits:
    return SessionLimits(
        max_message_bytes=settings.max_message_bytes,
        rate_per_second=settings.rate_per_second,
        rate_burst=settings.rate_burst,
        rate_abuse_strikes=settings.rate_abuse_strikes,
        outbox_size=settings.outbox_size,
        send_timeout_s=settings.send_timeout_s,
        max_followed_rooms=settings.max_followed_rooms,
    )


def _lobby(
    uow_factory: UnitOfWorkFactory,
    live_state: LiveStateCache,
    presence: Presence,
    settings: Settings,
) -> LobbyServices:
    return LobbyServices.on(
        uow_factory=uow_factory,
        live_state=live_state,
        clock=SystemClock(),
        live_state_timeout_s=settings.live_state_backstop_s,
        presence=presence,
    )


def _presence_keys(settings: Settings) -> PresenceKeys:
    """Where presence lives: the live-view step reads it for a view it creates from nothing."""
    return PresenceKeys(
        dead_after_ms(settings.presence_timeout_seconds), settings.presence_key_prefix
    )


def _presence_store(client: aioredis.Redis, settings: Settings) -> Presence:
    return RedisPresence(
        client,
        timeout_s=settings.presence_timeout_seconds,
        redis_timeout_s=settings.redis_timeout_s,
        prefix=settings.presence_key_prefix,
        breaker=CircuitBreaker(open_for_s=settings.redis_breaker_open_s),
    )


async def _presence(presence: Presence, settings: Settings) -> AsyncIterator[PresenceTracker]:
    tracker = PresenceTracker(
        presence,
        SystemClock(),
        timeout_s=settings.presence_timeout_seconds,
        redis_timeout_s=settings.redis_timeout_s,
    )
    async for running_tracker in running(tracker):
        yield running_tracker


def _verifier(settings: Settings) -> TokenVerifier:
    return TokenVerifier(jwt_secret(settings), leeway_s=settings.jwt_leeway_seconds)


def _housekeeping(
    uow_factory: UnitOfWorkFactory,
    live_state: LiveStateCache,
    release_held_seats: ReleaseExpiredSeats,
    settings: Settings,
) -> Housekeeping | None:
    """The sweep on PostgreSQL and Redis; None when the app runs on other stores (fakes).

    Built from the resolved stores, not from the pool and Redis resources, so
    that an app on the in-memory fakes opens nothing more (a test that wants
    a sweep there overrides this provider).
    """
    if not isinstance(uow_factory, PostgresUnitOfWorkFactory) or not isinstance(
        live_state, RedisLiveStateCache
    ):
        return None
    redis = RedisHousekeeping(
        live_state.client,
        ttl_s=tombstone_ttl_s(settings.closed_room_retention_seconds),
        # A batch is up to sweep_batch_size keys: the per-call Redis bound of
        # requests is too tight for it.
        timeout_s=max(settings.redis_timeout_s, settings.db_timeout_s),
        pacing_prefix=settings.presence_key_prefix,
    )
    return Housekeeping(
        PostgresSweepStore(uow_factory.pool, pool_settings(settings)),
        closing_times=redis,
        views=redis,
        live_state=live_state,
        clock=SystemClock(),
        limits=SweepLimits(
            batch_size=settings.sweep_batch_size,
            batches=settings.sweep_batches_per_round,
            closed_retention_ms=settings.closed_room_retention_seconds * 1000,
            idempotency_retention_ms=settings.idempotency_retention_seconds * 1000,
            view_pass_every_ms=int(settings.sweep_view_pass_interval_seconds * 1000),
            # One round per interval for the cluster, whatever its size; a
            # little under it, so that an instance's ticks (an interval plus
            # its round apart) do not keep missing by a hair.
            round_every_ms=int(settings.sweep_interval_seconds * 900),
        ),
        release_held_seats=release_held_seats,
        pacing=redis,
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    database_url = providers.Resource(_database_url, settings)
    redis_url = providers.Resource(_redis_url, settings)

    pool_settings = providers.Callable(pool_settings, settings)
    pool = providers.Resource(_pool, database_url, pool_settings)
    redis = providers.Resource(_redis, redis_url, settings)
    room_events = providers.Resource(_room_events, redis_url, settings)

    uow_factory = providers.Singleton(PostgresUnitOfWorkFactory, pool, pool_settings)
    user_exists = providers.Singleton(functools.partial, user_exists, pool)
    live_state = providers.Singleton(
        RedisLiveStateCache,
        redis,
        redis_timeout_s=settings.provided.redis_timeout_s,
        breaker=providers.Singleton(
            CircuitBreaker, open_for_s=settings.provided.redis_breaker_open_s
        ),
        tombstone_ttl_s=providers.Callable(
            tombstone_ttl_s, settings.provided.closed_room_retention_seconds
        ),
        presence=providers.Callable(_presence_keys, settings),
    )
    create_room = providers.Singleton(
        CreateRoom,
        uow_factory=uow_factory,
        codes=providers.Singleton(SecureCodeGenerator),
        live_state=live_state,
        clock=providers.Singleton(SystemClock),
        max_code_draws=settings.provided.max_code_draws,
        live_state_timeout_s=settings.provided.live_state_backstop_s,
    )

    presence_store = providers.Singleton(_presence_store, redis, settings)
    # A rejoin takes a held seat back through the store (rooms_domain.use_cases.held_seat).
    lobby = providers.Singleton(_lobby, uow_factory, live_state, presence_store, settings)
    # This instance's presence, beating while the app runs.
    presence = providers.Resource(_presence, presence_store, settings)
    # The housekeeping round's held-seat step (each release counted in the metrics).
    release_expired_seats = providers.Singleton(
        ReleaseExpiredSeats,
        uow_factory=uow_factory,
        live_state=live_state,
        presence=presence_store,
        clock=providers.Singleton(SystemClock),
        hold_s=settings.provided.seat_hold_seconds,
        live_state_timeout_s=settings.provided.live_state_backstop_s,
        on_released=providers.Object(metrics.seat_released),
    )

    registry = providers.Singleton(
        ConnectionRegistry,
        max_connections=settings.provided.max_connections,
        max_per_user=settings.provided.max_connections_per_user,
    )
    gateway = providers.Singleton(
        Gateway,
        session=providers.Singleton(
            SessionServices,
            create_room=create_room,
            events=room_events,
            limits=providers.Callable(_limits, settings),
            create_budget=providers.Singleton(
                KeyedBudget, settings.provided.user_creates_per_minute
            ),
            lobby=lobby,
            presence=presence,
        ),
        verifier=providers.Singleton(_verifier, settings),
        origins=providers.Singleton(OriginPolicy, settings.provided.effective_allowed_origins),
        registry=registry,
        user_exists=user_exists,
    )
    # The sweep (rooms_ws.sweep runs it in serve's lifespan and `rooms sweep`).
    housekeeping = providers.Singleton(
        _housekeeping, uow_factory, live_state, release_expired_seats, settings
    )
