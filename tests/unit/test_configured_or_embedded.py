"""The one way to a service: the configured URL, or an embedded server for the duration."""

from __future__ import annotations

import threading

import pytest

from rooms_adapters.embedded import configured_or_embedded, in_thread


class FakeServer:
    def __init__(self) -> None:
        self.running = False
        self.threads: list[str] = []

    def start(self) -> str:
        self.running = True
        self.threads.append(threading.current_thread().name)
        return "redis://127.0.0.1:7777/0"

    def stop(self) -> None:
        self.running = False
        self.threads.append(threading.current_thread().name)


def test_a_configured_url_starts_nothing() -> None:
    started: list[FakeServer] = []

    def embedded() -> FakeServer:
        started.append(FakeServer())
        return started[-1]

    with configured_or_embedded("redis://elsewhere:6379/0", embedded) as url:
        assert url == "redis://elsewhere:6379/0"
    assert started == []


def test_without_a_url_the_embedded_server_runs_for_the_duration_only() -> None:
    server = FakeServer()
    with (
        pytest.raises(RuntimeError, match="boom"),
        configured_or_embedded(None, lambda: server) as url,
    ):
        assert url == "redis://127.0.0.1:7777/0"
        assert server.running
        raise RuntimeError("boom")
    assert not server.running


async def test_in_thread_starts_and_stops_off_the_event_loop() -> None:
    server = FakeServer()
    async with in_thread(configured_or_embedded(None, lambda: server)) as url:
        assert url == "redis://127.0.0.1:7777/0"
        assert server.running
    assert not server.running
    assert threading.current_thread().name not in server.threads
