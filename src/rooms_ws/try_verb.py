"""``rooms try TOKEN``: one ``create_room`` through :mod:`rooms_client`, frames printed.

The client retries what the contract calls retryable with the same
``request_id`` and reconnects after 1012, so ``rooms try`` against a server
that is restarting still ends with exactly one room.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from rooms_client import (
    CreateRoomOk,
    HandshakeRefused,
    RetryPolicy,
    RoomsClient,
    RoomsClientError,
    ServerError,
)

__all__ = ["run_try"]

# A person is waiting: a few quick tries, not a long siege.
POLICY = RetryPolicy(attempts=4, base_s=0.25, cap_s=2.0, reply_timeout_s=15, open_timeout_s=10)


def run_try(
    url: str,
    token: str,
    *,
    max_players: int = 4,
    request_id: uuid.UUID | None = None,
    policy: RetryPolicy = POLICY,
) -> int:
    """Print every frame (``>`` sent, ``<`` received); 0 on ``create_room_ok``, else 1."""

    def trace(direction: str, frame: str) -> None:
        print(f"{direction} {frame}", flush=True)

    async def exchange() -> CreateRoomOk:
        async with RoomsClient.connect(url, token, policy=policy, trace=trace) as client:
            return await client.create_room(max_players=max_players, request_id=request_id)

    try:
        asyncio.run(exchange())
    except HandshakeRefused as exc:
        print(f"rooms: handshake refused: HTTP {exc.status}", file=sys.stderr)
    except ServerError as exc:
        problems = "".join(f"\n  - {field}: {problem}" for field, problem in exc.problems().items())
        print(f"rooms: {exc.code}: {exc.message}{problems}", file=sys.stderr)
    except RoomsClientError as exc:
        print(f"rooms: {exc}", file=sys.stderr)
    else:
        return 0
    return 1
