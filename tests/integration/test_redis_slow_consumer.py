"""A real ``rooms serve`` on PostgreSQL and Redis: room events a client does not read.

Events published on Redis reach a socket through its outbox only; a client
that stops reading fills it, and the server closes that socket with 4009
(``docs/protocol.md``, close codes) instead of buffering without bound or
quietly unsubscribing it. Bounds are failure guards, never timings.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.fullstack import Serve, add_user
from tests.integration.redis_support import admin_client
from tests.integration.ws_support import ask, client, close_code, create_room, token_for

pytestmark = pytest.mark.integration


async def test_a_client_that_stops_reading_its_room_events_is_closed_with_4009(
    serve: Serve, database_url: str, redis_url: str
) -> None:
    server = await serve(
        ROOMS_OUTBOX_SIZE="16",
        # Far beyond the test's guard: only a full outbox can close the socket.
        ROOMS_SEND_TIMEOUT_S="300",
    )
    user = await add_user(database_url)
    admin = admin_client(redis_url)
    room = None
    try:
        async with client(server.url, token_for(user), max_queue=4) as ws:
            room = (await ask(ws, create_room()))["payload"]["room_id"]
            event = json.dumps({"type": "noise", "payload": "x" * 4000})
            # The client reads nothing now. Enough events to fill the socket
            # buffers on both sides and then the outbox, sent in bursts.
            closed = False
            for _ in range(40):
                async with admin.pipeline(transaction=False) as pipe:
                    for _ in range(250):
                        pipe.publish(f"room:{room}:events", event)
                    receivers = await pipe.execute()
                if not receivers[-1]:  # nobody follows the room any more
                    closed = True
                    break
            assert closed, "the server kept the slow socket subscribed"
            assert await close_code(ws, within_s=30) == 4009
    finally:
        if room is not None:  # the server wrote its live view on this Redis
            await admin.delete(f"room:{room}:meta", f"room:{room}:seats")
        await admin.aclose()
