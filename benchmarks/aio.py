"""Event-loop plumbing shared by the load generators."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from benchmarks.procfs import raise_open_file_limit
from benchmarks.worker import wait_go

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is installed (it is, with uvicorn[standard])."""
    raise_open_file_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def go(channel: Connection) -> Any:
    """Wait for the parent's ``go`` without blocking the event loop."""
    return await asyncio.to_thread(wait_go, channel)
