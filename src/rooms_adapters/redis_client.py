"""The one way this service builds redis-py connections: short timeouts, no retries.

redis-py's ``Redis(...)`` constructor defaults to ``Retry(ExponentialWithJitterBackoff,
10)`` on connection and timeout errors (redis-py 6+), and socket timeouts
default to 5 s: a dead Redis would then hold a request for many seconds. Every
caller here has its own bound and its own policy (circuit breaker, reconnect
loop), so connections fail fast and let them decide.
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def no_retry() -> Retry:
    """A policy that makes exactly one attempt (``retries=-1`` would mean forever)."""
    return Retry(NoBackoff(), 0)


def connection_options(*, redis_timeout_s: float, client_name: str | None = None) -> dict[str, Any]:
    """Keyword arguments for a redis-py connection pool, shared by every adapter.

    ``redis_timeout_s`` bounds connecting and each socket operation.
    """
    return {
        "socket_timeout": redis_timeout_s,
        "socket_connect_timeout": redis_timeout_s,
        "retry": no_retry(),
        "client_name": client_name,
        # Bytes in, bytes out: decoding is ours, so a stray non-UTF-8 payload
        # cannot make the parser fail and drop the connection.
        "decode_responses": False,
        # RESP2, not redis-py 8's default RESP3: the handshake is one round
        # trip shorter (no HELLO, no maintenance-notifications probe), any
        # Redis speaks it, and pub/sub messages arrive as plain replies rather
        # than push frames that redis-py logs, payload included, at DEBUG.
        "protocol": 2,
    }


def redis_client(
    url: str,
    *,
    redis_timeout_s: float = 0.25,
    max_connections: int = 64,
    client_name: str | None = None,
) -> aioredis.Redis:
    """A client for ``url`` that fails within the timeouts instead of retrying.

    Creating it does not connect; the pool connects on first use. At most
    ``max_connections`` sockets are open; a caller finding them all busy waits
    for one up to ``redis_timeout_s`` (a full pool means a slow Redis, and
    the non-blocking pool would fail at once with "Too many connections").
    Close it with ``await client.aclose()``, which closes the pool too.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=redis_timeout_s,
        **connection_options(redis_timeout_s=redis_timeout_s, client_name=client_name),
    )
    return aioredis.Redis.from_pool(pool)


def packed_command(*args: str | bytes) -> bytes:
    """One command in RESP, packed by hiredis (C), for ``Connection.send_packed_command``.

    redis-py's asyncio connections pack in Python, which costs more than the
    rest of a live-state write; its parser is hiredis's already when hiredis
    is installed, as it is here.
    """
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]  # its stub: a 1-tuple
    return packed
