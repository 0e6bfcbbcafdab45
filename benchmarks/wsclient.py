"""Opening authenticated WebSocket connections, many at a time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

Compression = Literal["deflate", "none"]


async def open_one(url: str, token: str, compression: Compression) -> ClientConnection:
    """One connection authenticated by header, as a game client would open it.

    No keepalive pings from the client: the server's own pings keep it honest,
    and idle must mean idle.
    """
    return await connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression="deflate" if compression == "deflate" else None,
        ping_interval=None,
        open_timeout=60,
        close_timeout=5,
        proxy=None,
    )


async def open_many(
    url: str,
    tokens: Sequence[str],
    compression: Compression,
    parallel: int = 64,
) -> tuple[list[ClientConnection], Counter[str]]:
    """Open one connection per token, ``parallel`` handshakes at a time.

    Returns the connections that opened and the failures by reason (the HTTP
    status of a refused handshake, or the exception's class name).
    """
    gate = asyncio.Semaphore(parallel)
    failures: Counter[str] = Counter()

    async def attempt(token: str) -> ClientConnection | None:
        async with gate:
            try:
                return await open_one(url, token, compression)
            except InvalidStatus as exc:
                failures[f"http_{exc.response.status_code}"] += 1
            except (OSError, TimeoutError) as exc:
                failures[type(exc).__name__] += 1
            return None

    opened = await asyncio.gather(*(attempt(t) for t in tokens))
    return [c for c in opened if c is not None], failures


async def open_all(
    url: str, tokens: Sequence[str], compression: Compression
) -> list[ClientConnection]:
    """``open_many``, for a phase that needs every connection: any refused, none stays open."""
    connections, failures = await open_many(url, tokens, compression)
    if failures:
        await close_all(connections)
        raise RuntimeError(f"connections refused: {dict(failures)}")
    return connections


async def close_all(connections: Sequence[ClientConnection]) -> None:
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
