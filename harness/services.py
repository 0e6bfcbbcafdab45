"""PostgreSQL and Redis for a test session, a benchmark or a soak run.

Each is the server a variable names (``ROOMS_TEST_DATABASE_URL``,
``ROOMS_BENCH_REDIS_URL``, ...) or else an embedded one, through the same
:func:`~rooms_adapters.embedded.configured_or_embedded` the server uses, in a
directory of its own: the caller's, or a private temporary one removed after.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rooms_adapters.embedded import configured_or_embedded
from rooms_adapters.embedded.postgres import EmbeddedPostgres
from rooms_adapters.embedded.redis import EmbeddedRedis


@contextmanager
def scratch_dir(prefix: str, given: Path | None = None) -> Iterator[Path]:
    """``given``, or a new temporary directory removed afterwards."""
    if given is not None:
        yield given
        return
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)  # as root, the embedded PostgreSQL's own user must reach pgdata
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def postgres_server(
    configured: str | None, data_dir: Path | None = None, *, durable: bool = False
) -> Iterator[str]:
    """A DSN on the maintenance database of ``configured`` or of an embedded server.

    ``durable=False`` (tests, soak) trades crash safety for speed; the
    benchmark keeps the default of a real installation.
    """
    with (
        scratch_dir("rooms-pg-", data_dir) as directory,
        configured_or_embedded(
            configured or None, lambda: EmbeddedPostgres(directory, durable=durable)
        ) as dsn,
    ):
        yield dsn


@contextmanager
def redis_server(configured: str | None, data_dir: Path | None = None) -> Iterator[str]:
    """The URL of ``configured``, or of an embedded Redis."""
    with (
        scratch_dir("rooms-redis-", data_dir) as directory,
        configured_or_embedded(configured or None, lambda: EmbeddedRedis(directory)) as url,
    ):
        yield url


@contextmanager
def private_redis(data_dir: Path) -> Iterator[EmbeddedRedis]:
    """An embedded Redis that the caller may kill, freeze or restart: never a shared one."""
    server = EmbeddedRedis(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
