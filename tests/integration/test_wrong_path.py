"""A wrong path or a plain browser visit gets an answer that points at /ws."""

from __future__ import annotations

import asyncio
import logging
import urllib.error
import urllib.request

import pytest

from tests.integration.memory_server import MemoryServer
from tests.integration.ws_support import refusal_status, token_for

pytestmark = pytest.mark.integration


def http_get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def base(server: MemoryServer) -> str:
    return server.url.removesuffix("/ws")  # ws://127.0.0.1:PORT


@pytest.mark.parametrize("path", ["/", "/wss", "/ws/", "/ws/room"])
async def test_a_websocket_on_another_path_is_refused_404_and_logged(
    memory_server: MemoryServer, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = token_for(memory_server.add_user())
    with caplog.at_level(logging.INFO, logger="rooms_ws.connections"):
        assert await refusal_status(base(memory_server) + path, token) == 404
    [line] = [r for r in caplog.records if r.getMessage() == "handshake refused"]
    assert line.__dict__["status"] == 404 and line.__dict__["path"] == path


async def test_the_endpoint_itself_still_accepts(memory_server: MemoryServer) -> None:
    token = token_for(memory_server.add_user())
    assert await refusal_status(memory_server.url, token) is None


async def test_a_browser_visit_gets_a_short_text_naming_the_endpoint(
    memory_server: MemoryServer,
) -> None:
    http = base(memory_server).replace("ws://", "http://")
    for path in ("/", "/favicon.ico", "/docs"):
        status, headers, body = await asyncio.to_thread(http_get, http + path)
        assert status == 404
        assert headers["content-type"].startswith("text/plain")
        assert memory_server.url in body and "detail" not in body
        assert len(body) < 200


async def test_plain_http_on_the_endpoint_is_told_to_upgrade(memory_server: MemoryServer) -> None:
    http = memory_server.url.replace("ws://", "http://")
    status, headers, body = await asyncio.to_thread(http_get, http)
    assert status == 426
    assert headers["upgrade"] == "websocket"
    assert memory_server.url in body
