"""What a step of a scripted run costs PostgreSQL, Redis and the servers, counted.

Counts, not times, wherever there is one, since the machine is shared:

- Redis: ``INFO commandstats`` (every command, those a Lua script ran
  included), the commands clients sent (MONITOR lines not from a script: the
  round trips), and the bytes in and out (``INFO stats``). The Redis must be
  private to the run, or other clients' traffic is counted too.
- PostgreSQL: round trips through a :class:`~harness.postgres_proxy.PostgresProxy`
  the servers connect through; commits and WAL bytes from the WAL itself
  (``pg_walinspect`` between two flushed LSNs: a read-only transaction writes
  no commit record). The WAL is the whole cluster's: the cluster must be the
  run's own (the embedded one).
- CPU: the servers' and PostgreSQL's process trees (``/proc``, in clock
  ticks), Redis's own account (``INFO cpu``, from ``getrusage``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from benchmarks.procfs import cpu_seconds
from harness.postgres_proxy import PostgresProxy

# The meter's own calls, left out of what it reports.
_OWN_COMMANDS = frozenset({"info", "monitor"})

_COMMITS = """
SELECT coalesce(sum(count), 0) FROM pg_get_wal_stats($1::text::pg_lsn, $2::text::pg_lsn, true)
WHERE "resource_manager/record_type" = 'Transaction/COMMIT'
"""


@dataclass(frozen=True, slots=True)
class Reading:
    commands: Counter[str]
    from_clients: float
    net_in: int
    net_out: int
    round_trips: int
    wal_lsn: str
    cpu_s: float
    redis_cpu_s: float
    postgres_cpu_s: float
    at: float


@dataclass(frozen=True, slots=True)
class Cost:
    """What happened between two readings, for ``changes`` changes (or sockets, or seconds)."""

    name: str
    changes: int
    commands: Counter[str]
    from_clients: float
    net_in: int
    net_out: int
    round_trips: int
    commits: int
    wal_bytes: int
    cpu_s: float
    redis_cpu_s: float
    postgres_cpu_s: float
    seconds: float

    def per(self, value: float) -> float:
        return value / self.changes if self.changes else float("nan")


class Meter:
    """Readings of the counters above; :meth:`open` before the first one."""

    def __init__(
        self,
        redis_url: str,
        proxy: PostgresProxy,
        dsn: str,
        pids: Callable[[], Sequence[int]],
        postgres_pid: int | None,
        *,
        monitor: bool = True,
    ) -> None:
        self._redis = aioredis.Redis.from_url(redis_url)
        # MONITOR waits as long as nobody sends a command: no read timeout.
        self._watcher = aioredis.Redis.from_url(redis_url, socket_timeout=None)
        self._proxy = proxy
        self._dsn = dsn
        self._pids = pids
        self._postgres_pid = postgres_pid
        # MONITOR costs Redis CPU (every command is copied to it): off, Redis's
        # CPU is its own, and the commands clients sent are not counted (nan).
        self._monitoring = monitor
        self._monitored = 0
        self._monitor_task: asyncio.Task[None] | None = None
        self._pg: asyncpg.Connection | None = None

    async def open(self) -> None:
        self._pg = await asyncpg.connect(self._dsn)
        await self._pg.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        if self._monitoring:
            self._monitor_task = asyncio.create_task(self._monitor())
            await asyncio.sleep(0.2)  # MONITOR in place before the first reading

    async def close(self) -> None:
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor_task
        if self._pg is not None:
            await self._pg.close()
        await self._redis.aclose()
        await self._watcher.aclose()

    async def _monitor(self) -> None:
        async with self._watcher.monitor() as monitor:
            async for line in monitor.listen():
                command = str(line.get("command", "")).split(" ", 1)[0].strip('"').lower()
                if line.get("client_type") != "lua" and command not in _OWN_COMMANDS:
                    self._monitored += 1

    async def read(self, settle_s: float = 0.5) -> Reading:
        """The counters, after ``settle_s`` for what the last step set off (events, MONITOR)."""
        await asyncio.sleep(settle_s)
        assert self._pg is not None, "open() first"
        raw: dict[str, Any] = await self._redis.info("commandstats")
        commands: Counter[str] = Counter()
        for key, stats in raw.items():
            name = key.removeprefix("cmdstat_")
            if name not in _OWN_COMMANDS:
                commands[name] = int(stats["calls"])
        net: dict[str, Any] = await self._redis.info("stats")
        cpu: dict[str, Any] = await self._redis.info("cpu")
        lsn = str(await self._pg.fetchval("SELECT pg_current_wal_flush_lsn()::text"))
        loop = asyncio.get_running_loop()
        return Reading(
            commands,
            self._monitored if self._monitoring else float("nan"),
            int(net["total_net_input_bytes"]),
            int(net["total_net_output_bytes"]),
            self._proxy.round_trips,
            lsn,
            sum(cpu_seconds(pid) for pid in self._pids()),
            float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
            cpu_seconds(self._postgres_pid) if self._postgres_pid is not None else float("nan"),
            loop.time(),
        )

    async def cost(self, name: str, changes: int, before: Reading, after: Reading) -> Cost:
        assert self._pg is not None, "open() first"
        commits = wal = 0
        if after.wal_lsn != before.wal_lsn:
            commits = int(await self._pg.fetchval(_COMMITS, before.wal_lsn, after.wal_lsn))
            wal = int(
                await self._pg.fetchval(
                    "SELECT pg_wal_lsn_diff($2::text::pg_lsn, $1::text::pg_lsn)",
                    before.wal_lsn,
                    after.wal_lsn,
                )
            )
        commands = after.commands.copy()
        commands.subtract(before.commands)
        return Cost(
            name,
            changes,
            +commands,
            after.from_clients - before.from_clients,
            after.net_in - before.net_in,
            after.net_out - before.net_out,
            after.round_trips - before.round_trips,
            commits,
            wal,
            after.cpu_s - before.cpu_s,
            after.redis_cpu_s - before.redis_cpu_s,
            after.postgres_cpu_s - before.postgres_cpu_s,
            after.at - before.at,
        )
