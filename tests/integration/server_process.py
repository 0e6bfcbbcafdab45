"""``rooms serve`` (and the other verbs) as real subprocesses, stopped by their own PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import asyncpg
import pytest

from tests.integration.ws_support import SECRET, free_port

ROOMS = str(Path(sys.executable).with_name("rooms"))
# The log file of every server this test run started, for the sweep in conftest.py.
SERVER_LOGS: list[Path] = []


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ROOMS_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMS_")}
    env.update(settings)
    return env


def run_cli(
    *args: str, env: Mapping[str, str], cwd: Path, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROOMS, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


class ServerProcess:
    """One ``rooms serve``; its output goes to a file the test can read."""

    def __init__(
        self, env: Mapping[str, str], cwd: Path, *args: str, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        self.log_path = cwd / f"server-{self.port}.log"
        SERVER_LOGS.append(self.log_path)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [ROOMS, "serve", "--port", str(self.port), *args],
            env=dict(env),
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 120) -> ServerProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"rooms serve exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"rooms serve did not listen in time:\n{self.log()}")

    def wait_exit(self, timeout_s: float = 60) -> int:
        try:
            return self.process.wait(timeout_s)
        finally:
            self._log.close()

    def terminate(self, timeout_s: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.wait_exit(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def stop(self) -> None:
        """Teardown: SIGTERM, and SIGKILL if it will not go."""
        if self.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.terminate(60)
        self._log.close()


class Servers:
    """Starts servers for one test and stops every one of them afterwards."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.started: list[ServerProcess] = []

    def start(self, env: Mapping[str, str], *args: str, ready: bool = True) -> ServerProcess:
        server = ServerProcess(env, self.cwd, *args)
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
    return clean_env(
        ROOMS_DATABASE_URL=database_url,
        ROOMS_REDIS_URL=redis_url,
        ROOMS_JWT_SECRET=SECRET,
        ROOMS_DATA_DIR=str(data_dir),
        **{"ROOMS_USER_CREATES_PER_MINUTE": "1000000", **extra},
    )


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def wait_closed(server: ServerProcess, timeout_s: float = 60) -> int:
    return await asyncio.to_thread(server.wait_exit, timeout_s)


async def create_database(server_url: str) -> str:
    """A fresh database with the schema, on the tests' PostgreSQL server."""
    import uuid

    from rooms_adapters.postgres import apply_schema
    from tests.integration.postgres_fixtures import with_database

    name = f"rooms_test_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")
    finally:
        await admin.close()
    url = with_database(server_url, name)
    conn = await asyncpg.connect(url)
    try:
        await apply_schema(conn)
    finally:
        await conn.close()
    return url


async def drop_database(server_url: str, url: str) -> None:
    from urllib.parse import urlsplit

    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def module_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server_url)
    try:
        yield url
    finally:
        await drop_database(postgres_server_url, url)
