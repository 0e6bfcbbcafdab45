"""A real uvicorn running ``create_app`` in this process, on the in-memory adapters.

Fast enough to run every wire case against; the same cases run against a
``rooms serve`` subprocess on PostgreSQL and Redis in ``test_ws_*.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from rooms_adapters.memory import (
    MemoryDatabase,
    MemoryLiveStateCache,
    MemoryRoomEvents,
    MemoryUnitOfWorkFactory,
)
from rooms_adapters.memory_presence import MemoryPresence
from rooms_domain import (
    CreateRoom,
    CreateRoomCommand,
    CreateRoomOutcome,
    SecureCodeGenerator,
    SystemClock,
    UserId,
)
from rooms_ws.app import create_app
from rooms_ws.container import Container
from rooms_ws.server import GracefulServer, protocol_classes
from rooms_ws.settings import Settings
from tests.integration.ws_support import SECRET


class SlowCreateRoom(CreateRoom):
    """Takes its time, so a test can act while a request is in flight."""

    def __init__(self, delay_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay_s = delay_s

    async def run(self, cmd: CreateRoomCommand) -> CreateRoomOutcome:
        await asyncio.sleep(self.delay_s)
        return await super().run(cmd)


@dataclass
class MemoryServer:
    url: str
    db: MemoryDatabase
    cache: MemoryLiveStateCache
    events: MemoryRoomEvents
    server: GracefulServer
    task: asyncio.Task[None]

    def add_user(self, name: str = "Ann") -> UserId:
        user_id = UserId(uuid.uuid4())
        self.db.add_user(user_id, name)
        return user_id

    @property
    def container(self) -> Container:
        return self.server.config.app.state.container  # type: ignore[no-any-return]

    @property
    def sessions(self) -> list[Any]:
        return self.server.config.app.state.gateway.registry.connections  # type: ignore[no-any-return]

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 30)


StartMemoryServer = Callable[..., Awaitable[MemoryServer]]


@pytest.fixture
async def start_memory_server() -> AsyncIterator[StartMemoryServer]:
    started: list[MemoryServer] = []

    async def start(create_room_delay_s: float = 0.0, **overrides: Any) -> MemoryServer:
        db = MemoryDatabase(lock_wait_s=0.2)
        events = MemoryRoomEvents()
        cache = MemoryLiveStateCache(events)  # publishes the lobby's events there
        values: dict[str, Any] = {
            "jwt_secret": SECRET,
            "database_url": "postgresql://unused.invalid/rooms",
            "redis_url": "redis://unused.invalid",
            **overrides,
        }
        settings = Settings(**values)

        async def user_exists(user_id: UserId) -> bool:
            db.check_available()
            return user_id in db.users

        # The in-memory adapters in place of the real ones: nothing resolves the
        # pool, the Redis client or the embedded services (the unused URLs above
        # would fail loudly if something did).
        container = Container(
            uow_factory=MemoryUnitOfWorkFactory(db),
            live_state=cache,
            room_events=events,
            user_exists=user_exists,
            presence_store=MemoryPresence(
                cache, timeout_s=settings.presence_timeout_seconds, events=events
            ),
        )
        if create_room_delay_s:
            container.create_room.override(
                SlowCreateRoom(
                    create_room_delay_s,
                    uow_factory=MemoryUnitOfWorkFactory(db),
                    codes=SecureCodeGenerator(),
                    live_state=cache,
                    clock=SystemClock(),
                )
            )
        app = create_app(settings, container)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            # The protocols ``rooms serve`` runs, bounds included.
            **protocol_classes(settings),
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        server = GracefulServer(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        running = MemoryServer(f"ws://127.0.0.1:{port}/ws", db, cache, events, server, task)
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.task.done():
            await running.stop()


@pytest.fixture
async def memory_server(start_memory_server: StartMemoryServer) -> MemoryServer:
    return await start_memory_server()
