"""``python -m benchmarks.costs``: what one lobby change costs PostgreSQL and Redis, counted.

The figures docs/scaling.md starts from. Two ``rooms serve`` instances (A and
B) on a private embedded PostgreSQL (durable) and Redis, each server
connecting to PostgreSQL through a counting proxy (benchmarks/meter.py says
what is counted and how). Hosts are on A, guests on B, so every room is
followed from two instances, as it would be once scaled out.

1. **Changes**, with the housekeeping round and the presence beat pushed out
   of the way (one hour): N hosts connect and create a room, N guests connect
   and join by code, the guests' sockets close and they come back on new ones
   with ``get_room`` (a page refresh), both get ready, the host starts, the
   guest leaves, the host leaves (which closes the room), every socket closes.
   Each step is counted on its own, ``--parallel`` requests in flight.
2. **Background**, on two fresh instances beating every second
   (``ROOMS_PRESENCE_TIMEOUT_SECONDS=3``), sweeping every second and pinging
   every socket every second: N rooms of two, then a quiet window of
   ``--quiet`` seconds; the sweep rounds that acted are read from the
   instances' metrics.
3. **Pings**: two fresh instances pinging every second and doing nothing
   else, first with no socket, then with 2N idle ones: the CPU of a ping.
4. **Commit ceiling**: the servers stopped, ``--commit-clients`` asyncpg
   connections run a lobby change's transaction shape (a claimed key, the room
   and its seats locked, room, seat and key updated, commit) back to back on
   distinct rooms: the commits per second this PostgreSQL sustains for it.

About two minutes with the defaults on the 2-core machine. Times (CPU, the
ceiling) move with the machine's load, printed at both ends; the counts do not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from benchmarks import aio
from benchmarks import options as cli_options
from benchmarks.bench import Bench
from benchmarks.cli import keep_logs
from benchmarks.database import add_users, apply_schema
from benchmarks.lobby import Member
from benchmarks.machine import describe
from benchmarks.meter import Cost, Meter
from benchmarks.process import HOST, ServerProcess, clean_env, free_port
from benchmarks.procfs import cpu_seconds
from benchmarks.services import Services, services
from benchmarks.tokens import sign_all
from benchmarks.wsclient import close_all, open_all
from harness.postgres_proxy import PostgresProxy

_CREATE = {"visibility": "private", "max_players": 4, "ruleset_id": "classic", "ruleset_config": {}}
# Part 1: nothing in the background but what the requests cause.
_QUIET_SETTINGS = {"ROOMS_SWEEP_INTERVAL_SECONDS": "3600", "ROOMS_PRESENCE_TIMEOUT_SECONDS": "3600"}
# Part 2: every background task once a second, so a short window holds many rounds.
_BUSY_SETTINGS = {
    "ROOMS_SWEEP_INTERVAL_SECONDS": "1",
    "ROOMS_PRESENCE_TIMEOUT_SECONDS": "3",
    "ROOMS_PING_INTERVAL_SECONDS": "1",
    "ROOMS_SEAT_HOLD_SECONDS": "3600",
}


@dataclass(frozen=True, slots=True)
class CostOptions:
    rooms: int
    parallel: int
    quiet_s: float
    commit_clients: int
    commit_s: float
    monitor: bool
    logs: Path | None


def _parse(argv: Sequence[str] | None) -> CostOptions:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.costs",
        description="Count what lobby changes and the background cost PostgreSQL and Redis.",
    )
    add = parser.add_argument
    add("--rooms", type=int, default=200, help="lobbies of two players (default 200)")
    add("--parallel", type=int, default=16, help="requests in flight (default 16)")
    add("--quiet", type=float, default=10.0, help="seconds of the background window (default 10)")
    add("--commit-clients", type=int, default=16, help="connections of the ceiling (default 16)")
    add("--commit-seconds", type=float, default=4.0, help="the ceiling's window (default 4)")
    add(
        "--no-monitor",
        action="store_true",
        help="no Redis MONITOR: Redis's CPU without its cost, commands sent not counted",
    )
    add("--logs", type=Path, default=None, help="copy the servers' logs into this directory")
    ns = parser.parse_args(argv)
    return CostOptions(
        max(1, ns.rooms),
        max(1, ns.parallel),
        ns.quiet,
        max(1, ns.commit_clients),
        ns.commit_seconds,
        not ns.no_monitor,
        ns.logs,
    )


Step = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class Lobby:
    host: Member
    guest: Member
    room_id: str = ""
    code: str = ""


def main(argv: Sequence[str] | None = None) -> int:
    opts = _parse(argv)
    with tempfile.TemporaryDirectory(prefix="rooms-costs-") as tmp, services(Path(tmp)) as svc:
        if svc.postgres_pid is None or svc.redis_origin != "embedded":
            print("note: a given PostgreSQL or Redis counts other clients' traffic too")
        print("rooms costs")
        for line in describe(svc.dsn, svc.redis_url, svc.postgres_origin, svc.redis_origin):
            print(f"  {line}")
        apply_schema(svc.dsn, clean_env())
        users = add_users(svc.dsn, 2 * opts.rooms)
        secret = Bench.new_secret()
        bench = Bench(
            cli_options.parse(["--phases", "lobby"]),
            Path(tmp),
            svc,
            secret,
            users,
            sign_all(secret, users),
        )
        try:
            aio.run(_run(bench, opts))
        finally:
            if opts.logs is not None:
                keep_logs(Path(tmp), opts.logs)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load avg {load} at the end")
    return 0


async def _run(bench: Bench, opts: CostOptions) -> None:
    proxy = PostgresProxy(bench.services.dsn)
    await proxy.start()
    servers: list[ServerProcess] = []
    meter = Meter(
        bench.services.redis_url,
        proxy,
        bench.services.dsn,
        lambda: [s.pid for s in servers],
        bench.services.postgres_pid,
        monitor=opts.monitor,
    )
    try:
        await meter.open()
        changes = await _changes(bench, opts, proxy.dsn, servers, meter)
        background = await _background(bench, opts, proxy.dsn, servers, meter)
    finally:
        await meter.close()
        await proxy.close()
    for line in _report(changes, background, 2 * opts.rooms):
        print(line)
    for line in await _commit_ceiling(bench.services, opts):
        print(line)


async def _instances(
    stack: AsyncExitStack, bench: Bench, label: str, settings: dict[str, str]
) -> tuple[ServerProcess, ServerProcess, list[int]]:
    """Instances A and B, started together, and their metrics ports; stopped (SIGTERM)
    when ``stack`` closes."""
    started, ports = [], []
    for name in ("a", "b"):
        ports.append(free_port())
        env = settings | {"ROOMS_METRICS_PORT": str(ports[-1])}
        server = bench.rooms_server(f"{label}-{name}", env=env)
        stack.push_async_callback(asyncio.to_thread, server.stop)
        started.append(server)
    # In threads: the servers reach PostgreSQL through the proxy on this event loop.
    await asyncio.gather(*(asyncio.to_thread(s.wait_listening) for s in started))
    return started[0], started[1], ports


def _rounds_acted(port: int) -> float:
    """``rooms_sweep_rounds_total{outcome="acted"}`` of one instance."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    for line in text.splitlines():
        if line.startswith('rooms_sweep_rounds_total{outcome="acted"}'):
            return float(line.split()[-1])
    return 0.0


async def _each(
    items: Iterable[Lobby], action: Callable[[Lobby], Awaitable[object]], n: int
) -> None:
    gate = asyncio.Semaphore(n)

    async def one(lobby: Lobby) -> None:
        async with gate:
            await action(lobby)

    await asyncio.gather(*(one(lobby) for lobby in items))


async def _measured(meter: Meter, name: str, count: int, work: Awaitable[object]) -> Cost:
    # The previous step's reading has settled already; this one waits out the
    # grace before an unfollowed room is unsubscribed (rooms_ws.session).
    before = await meter.read(settle_s=0.0)
    await work
    return await meter.cost(name, count, before, await meter.read(settle_s=1.5))


async def _create(lobby: Lobby) -> None:
    body, _, _ = await lobby.host.ask("create_room", _CREATE)
    lobby.room_id, lobby.code = str(body["room_id"]), str(body["code"])


async def _join(lobby: Lobby) -> None:
    await lobby.guest.ask("join_room", {"code": lobby.code})


def _on_room(
    who: Callable[[Lobby], Member],
    type_: str,
    extra: dict[str, object] | None = None,
    ok: str | None = None,
) -> Callable[[Lobby], Awaitable[object]]:
    return lambda lobby: who(lobby).ask(type_, {"room_id": lobby.room_id, **(extra or {})}, ok)


def _host(lobby: Lobby) -> Member:
    return lobby.host


def _guest(lobby: Lobby) -> Member:
    return lobby.guest


async def _members(url: str, tokens: Sequence[str]) -> list[Member]:
    return [Member(ws) for ws in await open_all(url, tokens, "none")]


async def _lobbies(bench: Bench, a: ServerProcess, b: ServerProcess, rooms: int) -> list[Lobby]:
    hosts = await _members(a.url, bench.tokens[:rooms])
    guests = await _members(b.url, bench.tokens[rooms : 2 * rooms])
    return [Lobby(h, g) for h, g in zip(hosts, guests, strict=True)]


async def _close(members: Iterable[Member]) -> None:
    members = list(members)
    await close_all([m.ws for m in members])
    await asyncio.gather(*(m.reader for m in members), return_exceptions=True)


async def _refresh(bench: Bench, b: ServerProcess, lobbies: list[Lobby], par: int) -> None:
    """The guests come back, each on a new socket to B, and send get_room (a page refresh)."""
    returning = await _members(b.url, bench.tokens[len(lobbies) : 2 * len(lobbies)])
    for lobby, member in zip(lobbies, returning, strict=True):
        lobby.guest = member
    await _each(lobbies, _on_room(_guest, "get_room", ok="room"), par)


async def _changes(
    bench: Bench, opts: CostOptions, dsn: str, servers: list[ServerProcess], meter: Meter
) -> list[Cost]:
    n, par = opts.rooms, opts.parallel
    async with AsyncExitStack() as stack:
        settings = {"ROOMS_DATABASE_URL": dsn} | _QUIET_SETTINGS
        a, b, _ = await _instances(stack, bench, "changes", settings)
        servers[:] = [a, b]
        await asyncio.sleep(1.0)  # each instance's first beat and sweep round, not counted
        lobbies: list[Lobby] = []

        async def connect() -> None:
            lobbies.extend(await _lobbies(bench, a, b, n))

        def on_room(
            who: Callable[[Lobby], Member], type_: str, extra: dict[str, object] | None = None
        ) -> Step:
            return lambda: _each(lobbies, _on_room(who, type_, extra), par)

        steps: list[tuple[str, int, Step]] = [
            ("connect (socket)", 2 * n, connect),
            ("create_room", n, lambda: _each(lobbies, _create, par)),
            ("join_room", n, lambda: _each(lobbies, _join, par)),
            ("guest socket closed", n, lambda: _close(lobby.guest for lobby in lobbies)),
            ("guest back: socket, get_room", n, lambda: _refresh(bench, b, lobbies, par)),
            ("set_ready (host)", n, on_room(_host, "set_ready", {"ready": True})),
            ("set_ready (guest)", n, on_room(_guest, "set_ready", {"ready": True})),
            ("start_game", n, on_room(_host, "start_game")),
            ("leave_room (guest)", n, on_room(_guest, "leave_room")),
            ("leave_room (host, closes)", n, on_room(_host, "leave_room")),
            (
                "disconnect (socket)",
                2 * n,
                lambda: _close([m for lobby in lobbies for m in (lobby.host, lobby.guest)]),
            ),
        ]
        costs = [await _measured(meter, name, count, work()) for name, count, work in steps]
    servers.clear()
    return costs


@dataclass(frozen=True, slots=True)
class Background:
    cost: Cost
    rounds_acted: float
    beats: float
    idle: Cost
    pings: Cost


async def _pings(
    bench: Bench, opts: CostOptions, dsn: str, servers: list[ServerProcess], meter: Meter
) -> tuple[Cost, Cost]:
    """The instances alone, then with 2N idle sockets pinged every second; nothing else
    in the background."""
    async with AsyncExitStack() as stack:
        settings = {"ROOMS_DATABASE_URL": dsn, "ROOMS_PING_INTERVAL_SECONDS": "1"}
        a, b, _ = await _instances(stack, bench, "pings", settings | _QUIET_SETTINGS)
        servers[:] = [a, b]
        await asyncio.sleep(1.0)  # start-up done
        idle = await _measured(meter, "no sockets", 1, asyncio.sleep(opts.quiet_s))
        lobbies = await _lobbies(bench, a, b, opts.rooms)
        await asyncio.sleep(1.0)  # a first ping for every socket before the window
        pinged = await _measured(meter, "pings", 2 * opts.rooms, asyncio.sleep(opts.quiet_s))
        await _close(m for lobby in lobbies for m in (lobby.host, lobby.guest))
    servers.clear()
    return idle, pinged


async def _background(
    bench: Bench, opts: CostOptions, dsn: str, servers: list[ServerProcess], meter: Meter
) -> Background:
    n, par = opts.rooms, opts.parallel
    async with AsyncExitStack() as stack:
        settings = {"ROOMS_DATABASE_URL": dsn} | _BUSY_SETTINGS
        a, b, ports = await _instances(stack, bench, "background", settings)
        servers[:] = [a, b]
        lobbies = await _lobbies(bench, a, b, n)
        await _each(lobbies, _create, par)
        await _each(lobbies, _join, par)
        rounds_before = sum([await asyncio.to_thread(_rounds_acted, port) for port in ports])
        quiet = await _measured(meter, "quiet", n, asyncio.sleep(opts.quiet_s))
        rounds_after = sum([await asyncio.to_thread(_rounds_acted, port) for port in ports])
        await _close(m for lobby in lobbies for m in (lobby.host, lobby.guest))
    servers.clear()
    # Each instance beats every third of the presence timeout (3 s here).
    beats = (
        len((a, b)) * quiet.seconds / (float(_BUSY_SETTINGS["ROOMS_PRESENCE_TIMEOUT_SECONDS"]) / 3)
    )
    idle, pings = await _pings(bench, opts, dsn, servers, meter)
    return Background(quiet, rounds_after - rounds_before, beats, idle, pings)


def _cell(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _report(changes: list[Cost], background: Background, sockets: int) -> list[str]:
    head = (
        f"  {'step':<30}{'n':>5}  {'pg rt':>6} {'commit':>6} {'WAL B':>7}"
        f"  {'r. rt':>6} {'r. all':>6} {'PUB':>5} {'(UN)SUB':>7} {'r. out B':>8}"
        f"  {'srv ms':>6} {'pg ms':>6} {'r. us':>6}"
    )
    lines = [
        "",
        "per change (or socket), two instances, hosts on A and guests on B:",
        "  pg rt = PostgreSQL round trips, commit = commit records in the WAL, WAL B = WAL bytes;",
        "  r. rt = Redis commands sent by the instances, r. all = with those Lua scripts ran,",
        "  PUB = PUBLISH, (UN)SUB = SUBSCRIBE + UNSUBSCRIBE, r. out B = bytes Redis sent;",
        "  CPU: srv ms = both servers', pg ms = PostgreSQL's, r. us = Redis's (user + system)",
        head,
        *(_row(cost) for cost in changes),
        "",
        "Redis commands per change, by name (scripts' included):",
    ]
    for cost in changes:
        per = {name: calls / cost.changes for name, calls in cost.commands.most_common()}
        lines.append(f"  {cost.name:<30}{_calls(per)}")
    quiet, rounds = background.cost, background.rounds_acted
    seconds = quiet.seconds
    per_s = {name: calls / seconds for name, calls in quiet.commands.most_common()}
    lines += [
        "",
        f"background over {seconds:.1f} s: 2 instances, {quiet.changes} open rooms of 2"
        f" (and as many closed), {sockets} sockets; each instance beats, sweeps and pings"
        f" every socket every 1 s: {background.beats:.0f} beats, {rounds:.0f} sweep rounds acted",
        f"  Redis: {quiet.from_clients / seconds:,.1f} commands/s sent,"
        f" {sum(quiet.commands.values()) / seconds:,.1f} with scripts': {_calls(per_s)}",
        f"  PostgreSQL: {quiet.round_trips / seconds:,.1f} round trips/s"
        f" ({quiet.round_trips / rounds if rounds else float('nan'):,.1f} per round acted),"
        f" {quiet.commits / seconds:,.1f} commits/s, {quiet.wal_bytes / seconds:,.0f} WAL B/s",
        f"  CPU: servers {quiet.cpu_s / seconds * 1000:,.1f} ms/s"
        f" ({quiet.cpu_s / seconds / sockets * 1e6:,.1f} us/s per socket, pings included),"
        f" PostgreSQL {quiet.postgres_cpu_s / seconds * 1000:,.1f} ms/s,"
        f" Redis {quiet.redis_cpu_s / seconds * 1000:,.1f} ms/s",
    ]
    pings, idle = background.pings, background.idle
    idle_rate, ping_rate = idle.cpu_s / idle.seconds, pings.cpu_s / pings.seconds
    lines.append(
        f"pings alone: {pings.changes} idle sockets pinged every 1 s, no sweep, no beat:"
        f" servers' CPU {ping_rate * 1000:,.1f} ms/s, {idle_rate * 1000:,.1f} ms/s with no"
        f" socket: {(ping_rate - idle_rate) / pings.changes * 1e6:,.1f} us per ping (and pong);"
        f" Redis {sum(pings.commands.values()) / pings.seconds:,.1f} commands/s,"
        f" PostgreSQL {pings.round_trips / pings.seconds:,.1f} round trips/s"
    )
    return lines


def _row(cost: Cost) -> str:
    subs = cost.commands["subscribe"] + cost.commands["unsubscribe"]
    every = sum(cost.commands.values())
    return (
        f"  {cost.name:<30}{cost.changes:>5}  {_cell(cost.per(cost.round_trips)):>6}"
        f" {_cell(cost.per(cost.commits)):>6} {_cell(cost.per(cost.wal_bytes), 0):>7}"
        f"  {_cell(cost.per(cost.from_clients)):>6} {_cell(cost.per(every)):>6}"
        f" {_cell(cost.per(cost.commands['publish'])):>5} {_cell(cost.per(subs)):>7}"
        f" {_cell(cost.per(cost.net_out), 0):>8}  {_cell(cost.per(cost.cpu_s) * 1000, 3):>6}"
        f" {_cell(cost.per(cost.postgres_cpu_s) * 1000, 3):>6}"
        f" {_cell(cost.per(cost.redis_cpu_s) * 1e6, 0):>6}"
    )


def _calls(per: dict[str, float]) -> str:
    return ", ".join(f"{name.upper()} {value:.2f}" for name, value in per.items() if value >= 0.005)


# The shape of a lobby change's transaction (rooms_adapters.postgres): claim the
# request's key and lock the room and its seats; then the room's version, one
# seat and the key's completion in one statement; commit. Four round trips.
_CLAIM_AND_LOCK = """
WITH claim AS (
    INSERT INTO ws_idempotency (user_id, request_id, status) VALUES ($2, $3, 'in_progress')
    RETURNING 1
)
SELECT r.version FROM rooms r JOIN room_seats s USING (room_id)
WHERE r.room_id = $1 AND EXISTS (SELECT FROM claim) FOR UPDATE OF r, s
"""
_SAVE = """
WITH room AS (UPDATE rooms SET version = version + 1 WHERE room_id = $1 RETURNING 1),
seat AS (
    UPDATE room_seats SET ready = CASE ready WHEN 'ready' THEN 'not_ready'::seat_ready
                                             ELSE 'ready'::seat_ready END
    WHERE room_id = $1 AND seat_index = 0 RETURNING 1
)
UPDATE ws_idempotency SET status = 'completed', response_payload = '{"result": {}}'
WHERE user_id = $2 AND request_id = $3 AND EXISTS (SELECT FROM room) AND EXISTS (SELECT FROM seat)
"""


async def _commit_ceiling(svc: Services, opts: CostOptions) -> list[str]:
    pool = await asyncpg.create_pool(
        svc.dsn, min_size=opts.commit_clients, max_size=opts.commit_clients
    )
    try:
        rows = await pool.fetch(
            "SELECT room_id, owner_user_id FROM rooms LIMIT $1", opts.commit_clients
        )
        stop_at = time.monotonic() + opts.commit_s
        pg_pid = svc.postgres_pid
        pg_before = cpu_seconds(pg_pid) if pg_pid is not None else 0.0
        lsn_before = await pool.fetchval("SELECT pg_current_wal_flush_lsn()::text")

        async def loop(room_id: uuid.UUID, user_id: uuid.UUID) -> int:
            done = 0
            async with pool.acquire() as conn:
                while time.monotonic() < stop_at:
                    key = uuid.uuid4()
                    async with conn.transaction():
                        await conn.fetch(_CLAIM_AND_LOCK, room_id, user_id, key)
                        await conn.execute(_SAVE, room_id, user_id, key)
                    done += 1
            return done

        started = time.monotonic()
        commits = sum(await asyncio.gather(*(loop(r[0], r[1]) for r in rows)))
        elapsed = time.monotonic() - started
        wal = await pool.fetchval(
            "SELECT pg_wal_lsn_diff(pg_current_wal_flush_lsn(), $1::text::pg_lsn)", lsn_before
        )
        pg_cpu = cpu_seconds(pg_pid) - pg_before if pg_pid is not None else None
    finally:
        await pool.close()
    pg = f", PostgreSQL CPU {pg_cpu / commits * 1000:.3f} ms per commit" if pg_cpu else ""
    return [
        "",
        f"commit ceiling: {len(rows)} connections, a lobby change's transaction shape back to back",
        f"  {commits:,} commits in {elapsed:.1f} s = {commits / elapsed:,.0f} commits/s,"
        f" {float(wal) / commits:,.0f} WAL B per commit{pg}",
    ]


if __name__ == "__main__":
    main()
