"""``python -m soak [--clients N] [--seconds T] ...``: run, report, exit 1 on a failure."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import time

from harness.ports import free_port
from harness.server import server_env
from rooms_domain import UserId
from rooms_ws.auth import issue_token
from soak.database import add_users, written
from soak.flapper import Flapper
from soak.report import Run, failures, render
from soak.server import SoakServer, log_summary
from soak.services import services
from soak.tally import Tally
from soak.traffic import Client


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (20)")
    parser.add_argument("--seconds", type=float, default=60.0, help="traffic duration (60)")
    parser.add_argument("--rate", type=float, default=8.0, help="frames per second per client (8)")
    parser.add_argument(
        "--redis-every", type=float, default=10.0, help="seconds between Redis faults (10)"
    )
    parser.add_argument(
        "--redis-down", type=float, default=3.0, help="seconds each fault lasts (3)"
    )
    parser.add_argument("--seed", type=int, default=None, help="for a repeatable traffic mix")
    parser.add_argument("--server-log", default=None, help="keep the server's log at this path")
    options = parser.parse_args(argv)
    if options.clients < 1 or options.seconds <= 0 or options.rate <= 0:
        parser.error("--clients, --seconds and --rate must be positive")
    if not 0 < options.redis_down < options.redis_every:
        parser.error("need 0 < --redis-down < --redis-every")
    return options


async def soak(options: argparse.Namespace) -> int:
    seed = options.seed if options.seed is not None else secrets.randbelow(2**32)
    secret = secrets.token_urlsafe(32)
    async with services() as svc:
        env = server_env(
            svc.dsn,
            svc.redis.url,
            svc.work_dir / "data",
            secret,
            # Each soak client creates rooms far faster than a person would.
            ROOMS_USER_CREATES_PER_MINUTE="1000000",
        )
        server = SoakServer(env, svc.work_dir, free_port())
        await server.start()
        try:
            users = await add_users(svc.dsn, options.clients)
            ttl_s = int(options.seconds) + 600
            tally = Tally()
            clients = [
                Client(
                    server.url,
                    issue_token(secret, UserId(user), ttl_s),
                    tally,
                    rate_per_s=options.rate,
                    seed=seed + i,
                )
                for i, user in enumerate(users)
            ]
            flapper = Flapper(svc.redis, every_s=options.redis_every, down_s=options.redis_down)
            stop = asyncio.Event()
            background = [
                asyncio.create_task(flapper.run(stop)),
                asyncio.create_task(server.watch(stop)),
            ]
            deadline = time.monotonic() + options.seconds
            try:
                await asyncio.gather(*(c.run(deadline) for c in clients))
            finally:
                stop.set()
                await asyncio.gather(*background)
        finally:
            exit_code = await server.stop()
        crashes = server.crashes + (exit_code not in (0, None))
        rows = await written(svc.dsn)
        levels, tracebacks = log_summary(server.log_path)
        if options.server_log is not None:
            shutil.copyfile(server.log_path, options.server_log)
        run = Run(
            clients=options.clients,
            seconds=options.seconds,
            redis_every_s=options.redis_every,
            redis_down_s=options.redis_down,
            postgres=svc.postgres_origin,
            redis_faults=flapper.faults,
            server_crashes=crashes,
            peak_rss_bytes=server.peak_rss_bytes,
            log_levels=levels,
            log_tracebacks=tracebacks,
        )
        print(render(tally, rows, run))
        print(f"{'seed':<34}{seed}")
        return 1 if failures(tally, rows, run) else 0


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    return asyncio.run(soak(options))
