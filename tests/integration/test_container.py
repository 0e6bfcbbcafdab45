"""The container's resources: opened by the app's lifespan when needed, closed with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rooms_ws.app import create_app
from rooms_ws.container import Container
from rooms_ws.settings import Settings
from tests.integration.memory_server import MemoryServer
from tests.integration.ws_support import SECRET, ask, client, create_room, token_for

pytestmark = pytest.mark.integration


async def test_an_app_on_the_in_memory_adapters_opens_no_resource(
    memory_server: MemoryServer,
) -> None:
    user = memory_server.add_user()
    async with client(memory_server.url, token_for(user)) as ws:
        reply = await ask(ws, create_room())
    assert reply["type"] == "create_room_ok"
    container = memory_server.container
    opened = [
        name
        for name, provider in (
            ("database_url", container.database_url),
            ("redis_url", container.redis_url),
            ("pool", container.pool),
            ("redis", container.redis),
            ("room_events", container.room_events),
        )
        if provider.initialized
    ]
    assert opened == []


async def test_the_lifespan_opens_the_resources_and_closes_them_all(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        jwt_secret=SECRET,
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path,
    )
    container = Container()
    app = create_app(settings, container)
    async with app.router.lifespan_context(app):
        pool = await container.pool.async_()
        assert not pool.is_closing()
        assert container.room_events.initialized
        assert container.redis.initialized
    assert pool.is_closing()
    assert [
        provider
        for provider in (container.pool, container.redis, container.room_events)
        if provider.initialized
    ] == []
