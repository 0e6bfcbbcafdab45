"""``rooms try TOKEN [VERB ...]``: poke at a lobby from a shell through :mod:`rooms_client`.

    rooms try TOKEN                      create_room (``create`` is the default verb)
    rooms try TOKEN join CODE            join_room
    rooms try TOKEN ready ROOM_ID [--off]
    rooms try TOKEN start ROOM_ID | leave ROOM_ID | get ROOM_ID
    rooms try TOKEN kick ROOM_ID SEAT
    rooms try TOKEN watch ROOM_ID        the room, then its events until Ctrl-C

Every verb but ``watch`` prints the frames it sends (``>``) and receives
(``<``); ``get`` and ``watch`` also print the room as a table. The client
retries what the protocol calls retryable with the same ``request_id`` and
reconnects after 1012, so ``rooms try`` against a server that is restarting
still ends with exactly one room.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rooms_client import (
    HandshakeRefused,
    LobbyEvent,
    RetryPolicy,
    Room,
    RoomsClient,
    RoomsClientError,
    RoomSynced,
    ServerError,
)

__all__ = ["add_arguments", "format_event", "format_room", "run_try", "run_verb"]

# A person is waiting: a few quick tries, not a long siege.
POLICY = RetryPolicy(attempts=4, base_s=0.25, cap_s=2.0, reply_timeout_s=15, open_timeout_s=10)

Call = Callable[[RoomsClient], Awaitable[Any]]
Print = Callable[[str], None]


def add_arguments(try_: argparse.ArgumentParser) -> None:
    """The ``try`` verb's arguments: the token, then an optional lobby verb."""
    try_.add_argument("token", metavar="TOKEN")
    _options(try_, argparse.ArgumentParser.add_argument)
    # The options after the lobby verb too (``rooms try T join CODE --url ...``);
    # SUPPRESS: one not given there keeps the value given (or defaulted) before.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS)
    create_options = argparse.ArgumentParser(add_help=False)
    _options(create_options, _suppressed)
    verbs = try_.add_subparsers(dest="try_verb", metavar="VERB")
    verbs.add_parser("create", parents=[create_options], help="create_room (default)")
    join = verbs.add_parser("join", parents=[common], help="join_room by code")
    join.add_argument("code", metavar="CODE")
    ready = verbs.add_parser("ready", parents=[common], help="set_ready (--off: not ready)")
    ready.add_argument("room_id", type=_uuid, metavar="ROOM_ID")
    ready.add_argument("--off", action="store_true", help="set not ready")
    for name, what in (
        ("start", "start_game (host)"),
        ("leave", "leave_room"),
        ("get", "get_room: the room as a table"),
        ("watch", "the room, then its events until Ctrl-C"),
    ):
        verbs.add_parser(name, parents=[common], help=what).add_argument(
            "room_id", type=_uuid, metavar="ROOM_ID"
        )
    kick = verbs.add_parser("kick", parents=[common], help="kick_player (host)")
    kick.add_argument("room_id", type=_uuid, metavar="ROOM_ID")
    kick.add_argument("seat", type=int, metavar="SEAT")


def _options(parser: argparse.ArgumentParser, add: Callable[..., object]) -> None:
    add(parser, "--url", help="default: ws://ROOMS_HOST:ROOMS_PORT/ws")
    add(parser, "--max-players", type=int, default=4)
    add(parser, "--request-id", type=_uuid, help="default: a new UUID")


def _suppressed(parser: argparse.ArgumentParser, *names: str, **options: Any) -> object:
    return parser.add_argument(*names, **{**options, "default": argparse.SUPPRESS})


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


def run_verb(args: argparse.Namespace, url: str, *, policy: RetryPolicy = POLICY) -> int:
    """Run the lobby verb parsed in ``args``; 0 on success, 1 on any refusal or failure."""
    verb = args.try_verb or "create"
    if verb == "watch":
        return _run(lambda client: _watch(client, args.room_id, _print), url, args.token, policy)
    calls: dict[str, Call] = {
        "create": lambda c: c.create_room(max_players=args.max_players, request_id=args.request_id),
        "join": lambda c: c.join_room(args.code),
        "ready": lambda c: c.set_ready(args.room_id, not args.off),
        "start": lambda c: c.start_game(args.room_id),
        "leave": lambda c: c.leave_room(args.room_id),
        "kick": lambda c: c.kick_player(args.room_id, args.seat),
        "get": lambda c: _get(c, args.room_id),
    }
    return _run(calls[verb], url, args.token, policy, trace=True)


def run_try(
    url: str,
    token: str,
    *,
    max_players: int = 4,
    request_id: uuid.UUID | None = None,
    policy: RetryPolicy = POLICY,
) -> int:
    """One ``create_room``, frames printed; 0 on ``create_room_ok``, else 1."""

    def call(client: RoomsClient) -> Awaitable[Any]:
        return client.create_room(max_players=max_players, request_id=request_id)

    return _run(call, url, token, policy, trace=True)


def _run(call: Call, url: str, token: str, policy: RetryPolicy, *, trace: bool = False) -> int:
    def print_frame(direction: str, frame: str) -> None:
        print(f"{direction} {frame}", flush=True)

    async def exchange() -> None:
        tracer = print_frame if trace else None
        async with RoomsClient.connect(url, token, policy=policy, trace=tracer) as client:
            await call(client)

    try:
        asyncio.run(exchange())
    except KeyboardInterrupt:
        return 0  # the way to stop ``watch``
    except HandshakeRefused as exc:
        print(f"rooms: handshake refused: HTTP {exc.status}", file=sys.stderr)
    except ServerError as exc:
        print(f"rooms: {exc.code}: {exc.message}{_details(exc)}", file=sys.stderr)
    except RoomsClientError as exc:
        print(f"rooms: {exc}", file=sys.stderr)
    else:
        return 0
    return 1


def _details(exc: ServerError) -> str:
    lines = [f"{field}: {problem}" for field, problem in exc.problems().items()]
    lines += [f"seat {seat}: {problem}" for seat, problem in exc.blocking_seats().items()]
    return "".join(f"\n  - {line}" for line in lines)


def _print(text: str) -> None:
    print(text, flush=True)


async def _get(client: RoomsClient, room_id: uuid.UUID) -> None:
    _print(format_room(await client.get_room(room_id)))


async def _watch(client: RoomsClient, room_id: uuid.UUID, out: Print) -> None:
    """Print the room, then every event of it; stop when it closes or the user leaves it."""
    out(format_room(await client.get_room(room_id)))
    async for event in client.events():
        if event.room_id != room_id:
            continue
        out(format_event(event))
        if event.type == "room_closed":
            return


def format_room(room: Room) -> str:
    """The snapshot as a few lines a person reads: one per seat."""
    seated = sum(seat.occupied for seat in room.seats)
    lines = [
        f"room {room.room_id}  code {room.code}  {room.status}  version {room.version}"
        f"  {seated}/{room.max_players} seated"
    ]
    for seat in room.seats:
        if not seat.occupied:
            lines.append(f"  seat {seat.seat_index}  (empty)")
            continue
        flags = [
            "host" if seat.is_host else "",
            "ready" if seat.ready else "not ready",
            "connected" if seat.connected else "disconnected",
        ]
        who = f"{seat.display_name or '?'} ({seat.user_id})"
        lines.append(f"  seat {seat.seat_index}  {who}  " + "  ".join(f for f in flags if f))
    return "\n".join(lines)


def format_event(event: LobbyEvent | RoomSynced) -> str:
    """One line per event (the snapshot's table after a resync)."""
    if isinstance(event, RoomSynced):
        return f"v{event.version} room_synced (events were missed)\n{format_room(event.room)}"
    fields = {k: v for k, v in _fields(event).items() if k not in ("room_id", "version")}
    told = "  ".join(f"{name}={value}" for name, value in fields.items())
    return f"v{event.version} {event.type}  {told}".rstrip()


def _fields(event: LobbyEvent) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
