"""The one way this service builds redis-py connections: short timeouts, no retries.

redis-py's ``Redis(...)`` constructor defaults to ``Retry(ExponentialWithJitterBackoff,
10)`` on connection and timeout errors (redis-py 6+), and socket timeouts
default to 5 s: a dead Redis would then hold a request for many seconds. Every
caller here has its own bound and its own policy (circuit breaker, reconnect
loop), so connections fail fast and let them decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError
from redis.typing import EncodableT, KeyT, ScriptTextT

from rooms_adapters.redis_pipeliner import RedisPipeliner, packed_command

__all__ = [
    "PipelinedRedis",
    "connection_options",
    "no_retry",
    "packed_command",
    "redis_client",
    "redis_pipeliner",
]


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


class PipelinedRedis(aioredis.Redis):
    """A redis-py client with a :class:`RedisPipeliner` to the same server, closed with it.

    The per-request writes (live state, publish) go through ``pipeliner``;
    everything else uses the client as usual.
    """

    pipeliner: RedisPipeliner

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await self.pipeliner.aclose()
        await super().aclose(close_connection_pool)


def redis_client(
    url: str,
    *,
    redis_timeout_s: float = 0.25,
    max_connections: int = 64,
    client_name: str | None = None,
) -> PipelinedRedis:
    """A client for ``url`` that fails within the timeouts instead of retrying.

    Creating it does not connect; the pool connects on first use. At most
    ``max_connections`` sockets are open; a caller finding them all busy waits
    for one up to ``redis_timeout_s`` (a full pool means a slow Redis, and
    the non-blocking pool would fail at once with "Too many connections").
    Its pipeliner drops a connection that stays silent for half of
    ``redis_timeout_s`` while a caller gives up on it.
    Close it with ``await client.aclose()``, which closes the pool and the pipeliner too.
    """
    pool = _pool(url, redis_timeout_s, max_connections, client_name)
    client = PipelinedRedis(connection_pool=pool)
    client.auto_close_connection_pool = True  # what from_pool does: the client owns the pool
    client.pipeliner = RedisPipeliner(pool, stall_s=redis_timeout_s / 2)
    return client


def redis_pipeliner(
    url: str, *, redis_timeout_s: float = 0.25, client_name: str | None = None
) -> RedisPipeliner:
    """Only a pipeliner to ``url`` (for a publisher): one connection, made on first use."""
    return RedisPipeliner(_pool(url, redis_timeout_s, 1, client_name), stall_s=redis_timeout_s / 2)


def _pool(
    url: str, redis_timeout_s: float, max_connections: int, client_name: str | None
) -> aioredis.BlockingConnectionPool:
    return aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=redis_timeout_s,
        **connection_options(redis_timeout_s=redis_timeout_s, client_name=client_name),
    )


class PipelinedScript(AsyncScript):
    """A Lua script run through the pipeliner: EVALSHA, or EVAL once Redis lost it.

    redis-py's ``Script`` would load it (SCRIPT LOAD) and call EVALSHA again
    on NOSCRIPT (after a Redis restart); EVAL runs it and caches it in one
    round trip.
    """

    def __init__(self, client: aioredis.Redis, script: ScriptTextT, pipeliner: RedisPipeliner):
        super().__init__(client, script)
        self._pipeliner = pipeliner

    async def __call__(
        self,
        keys: Sequence[KeyT] | None = None,
        args: Iterable[EncodableT] | None = None,
        client: object = None,
    ) -> object:
        keys = keys or ()
        tail = (len(keys), *keys, *(args or ()))
        try:
            return await self._pipeliner.call(packed_command(b"EVALSHA", self.sha, *tail))
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self._pipeliner.call(packed_command(b"EVAL", self.script, *tail))


def script(client: aioredis.Redis, text: ScriptTextT) -> AsyncScript:
    """``text`` registered on ``client``: through its pipeliner when it has one."""
    if isinstance(client, PipelinedRedis):
        return PipelinedScript(client, text, client.pipeliner)
    return client.register_script(text)
