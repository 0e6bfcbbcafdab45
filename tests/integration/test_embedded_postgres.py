"""The embedded server: initialised once, reused, and really stopped."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from rooms_adapters.embedded.postgres import EmbeddedPostgres, Postmaster

pytestmark = pytest.mark.integration


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rooms-embedded-"))
    path.chmod(0o711)  # as root, the server's own user must reach what is inside
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def answers(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval("SELECT true"))
    finally:
        await conn.close()


async def test_start_reuse_stop_and_start_again(scratch: Path) -> None:
    owner = EmbeddedPostgres(scratch / "pg", durable=False)
    try:
        dsn = owner.start()
        assert await answers(dsn)
        postmaster = Postmaster.read(owner.pgdata)
        assert postmaster is not None

        other = EmbeddedPostgres(scratch / "pg", durable=False)
        assert other.start() == dsn  # the running server, not a second one
        other.stop()  # not its server to stop
        assert alive(postmaster.pid) and await answers(dsn)

        owner.stop()
        assert not alive(postmaster.pid)
        assert Postmaster.read(owner.pgdata) is None

        assert await answers(owner.start())  # the cluster is kept: no initdb this time
    finally:
        owner.stop()


async def test_a_data_dir_too_deep_for_a_socket_path_still_works(scratch: Path) -> None:
    deep = scratch / ("d" * 60) / ("e" * 60)
    with EmbeddedPostgres(deep, durable=False) as server:
        dsn = server.start()
        assert str(server.pgdata) not in dsn
        assert await answers(dsn)
