"""The metrics listener: private by default, no thread per connection, idle clients dropped."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from rooms_ws import metrics_listener
from tests.integration.fullstack import start_server
from tests.integration.memory_server import StartMemoryServer
from tests.integration.server_probe import scrape
from tests.integration.server_process import Servers, run_cli, server_env
from tests.integration.ws_support import free_port

pytestmark = pytest.mark.integration

IDLE_CONNECTIONS = 300


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    with open("/proc/net/tcp") as table:
        for line in list(table)[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


async def test_idle_connections_cost_no_thread_and_are_dropped(
    servers: Servers, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = server_env(database_url, redis_url, tmp_path / "data", ROOMS_METRICS_PORT=str(port))
    server = await start_server(servers, env)
    await asyncio.to_thread(scrape, port)  # listening, and the first scrape's threads exist
    before = threads_of(server.process.pid)

    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(IDLE_CONNECTIONS)]
    try:
        samples = await asyncio.to_thread(scrape, port)  # answered while they all wait
        assert "rooms_open_connections" in samples
        during = threads_of(server.process.pid)
        assert during <= before + 4, f"{before} threads before, {during} with idle connections"

        # Each idle client is cut off once its time to send a request is up.
        async def dropped(reader: asyncio.StreamReader) -> bool:
            try:
                return await reader.read(1) == b""
            except ConnectionResetError:
                return True

        async with asyncio.timeout(metrics_listener.REQUEST_TIMEOUT_S + 30):
            results = await asyncio.gather(*(dropped(reader) for reader, _ in idle))
        assert all(results)
    finally:
        for _, writer in idle:
            writer.close()


async def test_the_listener_binds_to_loopback_whatever_rooms_host_says(
    start_memory_server: StartMemoryServer,
) -> None:
    port = free_port()
    # The WebSocket side of this in-process server binds 127.0.0.1 regardless.
    await start_memory_server(host="0.0.0.0", metrics_port=port)
    assert listening_addresses(port) == {"127.0.0.1"}
    assert "rooms_open_connections" in await asyncio.to_thread(scrape, port)


def test_a_metrics_port_equal_to_the_server_port_is_refused_in_one_line(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = str(free_port())
    env = server_env(database_url, redis_url, tmp_path / "data", ROOMS_METRICS_PORT=port)
    done = run_cli("serve", "--port", port, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "ROOMS_METRICS_PORT" in line and "server's own port" in line
