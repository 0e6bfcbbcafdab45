"""A description of the machine and the run's services, printed first."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import redis

from benchmarks.database import scalar


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def describe(dsn: str, redis_url: str, pg_origin: str, redis_origin: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        redis_version = str(client.info("server").get("redis_version", "?"))
    finally:
        client.close()
    pg_version = str(scalar(dsn, "SHOW server_version"))
    sync = str(scalar(dsn, "SHOW synchronous_commit"))
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return [
        f"machine   {_cpu_model()}, {os.cpu_count()} cores, {_memory_gib():.1f} GiB,"
        f" {platform.system()} {platform.release()}",
        f"python    {platform.python_version()} ({platform.python_implementation()})",
        f"postgres  {pg_version} ({pg_origin}; synchronous_commit={sync})",
        f"redis     {redis_version} ({redis_origin})",
        f"load avg  {load} at start",
    ]
