"""``rooms serve`` (and the other verbs) as real subprocesses, stopped by their own PID."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import asyncpg
import pytest

import harness.server
from harness.database import own_database
from harness.ports import free_port
from harness.server import ROOMS, clean_env, rooms_serve
from tests.integration.ws_support import SECRET

__all__ = [
    "ROOMS",
    "SERVER_LOGS",
    "ServerProcess",
    "Servers",
    "clean_env",
    "fetch",
    "module_database_url",
    "run_cli",
    "server_env",
    "servers",
    "wait_closed",
]

# The log file of every server this test run started, for the sweep in conftest.py.
SERVER_LOGS: list[Path] = []


def run_cli(
    *args: str, env: Mapping[str, str], cwd: Path, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROOMS, *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout_s
    )


class ServerProcess(harness.server.ServerProcess):
    """One ``rooms serve``; its output goes to a file the test can read (and the log sweep)."""

    def __init__(
        self, env: Mapping[str, str], cwd: Path, *args: str, port: int | None = None
    ) -> None:
        port = port if port is not None else free_port()
        log_path = cwd / f"server-{port}.log"
        SERVER_LOGS.append(log_path)
        super().__init__(rooms_serve(port, *args), env=env, cwd=cwd, log_path=log_path, port=port)

    def wait_ready(self, timeout_s: float = 120) -> ServerProcess:
        return self.wait_listening(timeout_s)


class Servers:
    """Starts servers for one test and stops every one of them afterwards."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.started: list[ServerProcess] = []

    def start(
        self, env: Mapping[str, str], *args: str, ready: bool = True, port: int | None = None
    ) -> ServerProcess:
        server = ServerProcess(env, self.cwd, *args, port=port)
        self.started.append(server)
        return server.wait_ready() if ready else server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    running = Servers(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


def server_env(database_url: str, redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    # Tests of other things create rooms for one user faster than a person
    # would; the create budget is lifted unless the test sets it.
    extra = {"ROOMS_USER_CREATES_PER_MINUTE": "1000000", **extra}
    return harness.server.server_env(database_url, redis_url, data_dir, SECRET, **extra)


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def wait_closed(server: ServerProcess, timeout_s: float = 60) -> int:
    return await asyncio.to_thread(server.wait_exit, timeout_s)


@pytest.fixture(scope="module")
async def module_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    async with own_database(postgres_server_url, "rooms_test") as url:
        yield url
