"""The Redis event bus: one subscriber connection, across processes, through outages.

Two ``RedisRoomEvents`` on one server stand for two server processes. Fault
tests use a private ``redis-server`` (``fault_redis``). Bounds are failure
guards, never timings.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import cast

import pytest
from starlette.websockets import WebSocket

from rooms_adapters.circuit_breaker import BreakerState, CircuitBreaker
from rooms_adapters.embedded.redis import EmbeddedRedis
from rooms_adapters.redis_errors import EventsSkipped, EventsUnavailable
from rooms_adapters.redis_events import RedisRoomEvents, RoomSubscription
from rooms_domain import RoomId
from rooms_ws.auth import Identity
from rooms_ws.session import Session
from tests.contracts.room_events import Inbox
from tests.contracts.support import eventually
from tests.integration.redis_support import admin_client, pubsub_connections, subscribers
from tests.unit.fake_socket import FakeSocket
from tests.unit.harness import make_harness

pytestmark = pytest.mark.integration

RECOVERY_S = 20.0  # guard for reconnection (backoff is capped at 2 s)


class Buses:
    """Starts buses for a test and closes every one of them after it."""

    def __init__(self) -> None:
        self.started: list[RedisRoomEvents] = []

    async def start(self, url: str, **options: object) -> RedisRoomEvents:
        bus = RedisRoomEvents(url, **options)  # type: ignore[arg-type]
        self.started.append(bus)
        await bus.start()
        return bus

    async def connected(self, url: str, **options: object) -> RedisRoomEvents:
        """``start``, then wait (bounded) until the bus has its pub/sub connection."""
        bus = await self.start(url, **options)
        assert await bus.wait_connected(RECOVERY_S)
        return bus

    async def close(self) -> None:
        for bus in self.started:
            await bus.close()


@pytest.fixture
async def buses() -> AsyncIterator[Buses]:
    made = Buses()
    try:
        yield made
    finally:
        await made.close()


def new_room() -> RoomId:
    return RoomId(uuid.uuid4())


async def until_subscribers(url: str, room: RoomId, expected: int) -> None:
    """Wait until the server counts ``expected`` subscribers of the room's channel."""
    admin = admin_client(url)
    try:
        deadline = asyncio.get_running_loop().time() + RECOVERY_S
        while (n := await subscribers(admin, room)) != expected:
            assert asyncio.get_running_loop().time() < deadline, f"{n} subscribers, not {expected}"
            await asyncio.sleep(0.02)
    finally:
        await admin.aclose()


async def test_one_subscriber_connection_serves_every_room(
    fault_redis: EmbeddedRedis, buses: Buses
) -> None:
    first = await buses.start(fault_redis.url, client_name="rooms-events-a")
    second = await buses.start(fault_redis.url, client_name="rooms-events-b")
    assert await first.wait_connected(RECOVERY_S) and await second.wait_connected(RECOVERY_S)
    rooms = [new_room() for _ in range(25)]
    for room in rooms:
        await first.subscribe(room, Inbox())
        await first.subscribe(room, Inbox())  # a second local listener adds no subscription
        await second.subscribe(room, Inbox())
    admin = admin_client(fault_redis.url)
    try:
        assert await pubsub_connections(admin, "rooms-events-a") == 1
        assert await pubsub_connections(admin, "rooms-events-b") == 1
        assert len(await admin.client_list(_type="pubsub")) == 2
        for room in rooms:
            assert await subscribers(admin, room) == 2
    finally:
        await admin.aclose()
    assert first.channels == second.channels == len(rooms)


async def test_a_message_crosses_from_one_process_to_the_others(
    redis_url: str, buses: Buses
) -> None:
    sender = await buses.start(redis_url)
    receiver = await buses.start(redis_url)
    assert await receiver.wait_connected(RECOVERY_S)
    room, theirs, mine = new_room(), Inbox(), Inbox()
    await receiver.subscribe(room, theirs)
    await sender.subscribe(room, mine)
    message = '{"type":"seat_taken","payload":{"name":"Zoë","emoji":"🎲"}}'
    await sender.publish(room, message)
    await eventually(lambda: theirs.messages == [message] and mine.messages == [message])
    assert receiver.stats.delivered == 1


async def test_closing_the_last_listener_unsubscribes_the_channel(
    redis_url: str, buses: Buses
) -> None:
    bus = await buses.connected(redis_url)
    room = new_room()
    first = await bus.subscribe(room, Inbox())
    second = await bus.subscribe(room, Inbox())
    await until_subscribers(redis_url, room, 1)
    await first.close()
    await until_subscribers(redis_url, room, 1)
    await second.close()
    await until_subscribers(redis_url, room, 0)
    assert bus.channels == 0


async def test_subscriptions_come_back_after_redis_is_killed_and_restarted(
    fault_redis: EmbeddedRedis, buses: Buses
) -> None:
    bus = await buses.connected(fault_redis.url)
    rooms = [new_room() for _ in range(3)]
    inboxes = [Inbox() for _ in rooms]
    for room, inbox in zip(rooms, inboxes, strict=True):
        await bus.subscribe(room, inbox)

    fault_redis.kill()
    await eventually(lambda: not bus.connected, within_s=RECOVERY_S)
    fault_redis.restart()
    for room in rooms:
        await until_subscribers(fault_redis.url, room, 1)

    publisher = await buses.start(fault_redis.url)
    for room in rooms:
        await publisher.publish(room, f"after restart {room}")
    await eventually(
        lambda: all(
            inbox.messages == [f"after restart {room}"]
            for room, inbox in zip(rooms, inboxes, strict=True)
        ),
        within_s=RECOVERY_S,
    )
    assert bus.connected
    assert bus.stats.reconnects == 1


async def test_it_starts_with_redis_down_and_delivers_once_redis_appears(
    fault_redis: EmbeddedRedis, buses: Buses
) -> None:
    fault_redis.kill()
    bus = await buses.start(fault_redis.url)
    room, inbox = new_room(), Inbox()
    async with asyncio.timeout(RECOVERY_S):  # subscribing must not wait for Redis
        subscription = await bus.subscribe(room, inbox)
    assert not bus.connected
    with pytest.raises(EventsUnavailable):
        await bus.publish(room, "lost: nobody could carry it")

    fault_redis.restart()
    await until_subscribers(fault_redis.url, room, 1)
    await bus.publish(room, "hello")
    await eventually(lambda: inbox.messages == ["hello"], within_s=RECOVERY_S)
    assert bus.stats.reconnects == 0  # the first connection is not a reconnection
    await subscription.close()
    await until_subscribers(fault_redis.url, room, 0)


async def test_a_frozen_redis_is_noticed_and_subscriptions_resume_after_it_thaws(
    fault_redis: EmbeddedRedis, buses: Buses
) -> None:
    bus = await buses.connected(fault_redis.url, ping_interval_s=0.2, redis_timeout_s=0.25)
    room, inbox = new_room(), Inbox()
    await bus.subscribe(room, inbox)
    fault_redis.pause()
    try:
        await eventually(lambda: not bus.connected, within_s=RECOVERY_S)
    finally:
        fault_redis.resume()
    await eventually(lambda: bus.connected, within_s=RECOVERY_S)
    await until_subscribers(fault_redis.url, room, 1)
    await bus.publish(room, "thawed")
    await eventually(lambda: inbox.messages == ["thawed"], within_s=RECOVERY_S)


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_with_redis_stalled_only_the_first_subscribe_waits_for_its_bound(
    fault_redis: EmbeddedRedis, buses: Buses
) -> None:
    # Each create_room subscribes: if every subscribe waited out its bound
    # while Redis hangs, every create would pay it until the reader noticed.
    wait_s, clock = 1.0, ManualClock()
    breaker = CircuitBreaker(open_for_s=5.0, clock=clock)
    bus = await buses.start(
        fault_redis.url, redis_timeout_s=wait_s, ping_interval_s=60.0, breaker=breaker
    )
    assert await bus.wait_connected(RECOVERY_S)
    rooms, inbox = [new_room() for _ in range(6)], Inbox()
    fault_redis.pause()
    try:
        await bus.subscribe(rooms[0], inbox)  # waits its bound, then stays pending
        assert breaker.state is BreakerState.OPEN
        # A guard, not a timing: five more waits would take five bounds.
        async with asyncio.timeout(wait_s):
            for room in rooms[1:]:
                await bus.subscribe(room, inbox)
        with pytest.raises(EventsSkipped):  # nor does a publish wait on it
            await bus.publish(rooms[0], "skipped")
    finally:
        fault_redis.resume()
    for room in rooms:
        await until_subscribers(fault_redis.url, room, 1)
    # Once the breaker lets a trial through, a subscribe waits for its
    # confirmation as before, and that closes the breaker.
    clock.now += 5.0
    late = new_room()
    await bus.subscribe(late, inbox)
    assert breaker.state is BreakerState.CLOSED
    await bus.publish(late, "late")
    await eventually(lambda: inbox.messages == ["late"], within_s=RECOVERY_S)


async def test_the_bus_breaker_is_its_own_a_cache_outage_does_not_stop_events(
    redis_url: str, buses: Buses
) -> None:
    # The live-state cache and the bus used to share one breaker: a failed
    # cache write then also made every subscription skip its confirmation.
    cache_breaker = CircuitBreaker(open_for_s=60.0)
    cache_breaker.record_failure()
    bus = await buses.start(redis_url)
    assert bus.breaker is not cache_breaker
    assert await bus.wait_connected(RECOVERY_S)
    room, inbox = new_room(), Inbox()
    await bus.subscribe(room, inbox)  # waited for its confirmation: heard at once
    await bus.publish(room, "heard")
    await eventually(lambda: inbox.messages == ["heard"])
    assert bus.breaker.state is BreakerState.CLOSED


async def test_a_refusing_listener_costs_no_other_listener_anything(
    redis_url: str, buses: Buses
) -> None:
    # No queue per listener any more: a listener that refuses (its socket is
    # closing, its outbox full) is counted; the others get every message.
    bus = await buses.connected(redis_url)
    room, fast = new_room(), Inbox()
    await bus.subscribe(room, lambda message: False)
    await bus.subscribe(room, fast)
    sent = [f"m{i}" for i in range(30)]
    for message in sent:
        await bus.publish(room, message)
    await eventually(lambda: len(fast.messages) == 30)
    assert fast.messages == sent
    assert (bus.stats.delivered, bus.stats.dropped) == (30, 30)


async def test_messages_that_are_not_utf8_are_skipped_and_counted(
    redis_url: str, buses: Buses
) -> None:
    bus = await buses.connected(redis_url)
    room, inbox = new_room(), Inbox()
    await bus.subscribe(room, inbox)
    admin = admin_client(redis_url)
    try:
        await admin.publish(f"room:{room}:events", b"\xff\xfe not text")
    finally:
        await admin.aclose()
    await bus.publish(room, "text")
    await eventually(lambda: inbox.messages == ["text"])
    assert bus.stats.undecodable == 1


async def test_concurrent_joins_and_leaves_leave_the_server_matching_local_listeners(
    redis_url: str, buses: Buses
) -> None:
    bus = await buses.connected(redis_url)
    rooms = [new_room() for _ in range(4)]
    rng = random.Random(7)

    async def churn(room: RoomId) -> RoomSubscription | None:
        subscription = await bus.subscribe(room, Inbox())
        await asyncio.sleep(rng.random() / 100)
        if rng.random() < 0.7:
            await subscription.close()
            return None
        return subscription

    kept = await asyncio.gather(*(churn(rng.choice(rooms)) for _ in range(200)))
    still = {sub.room_id for sub in kept if sub is not None}
    for room in rooms:
        await until_subscribers(redis_url, room, 1 if room in still else 0)
    for sub in kept:
        if sub is not None:
            await sub.close()
    for room in rooms:
        await until_subscribers(redis_url, room, 0)


async def test_an_event_burst_a_socket_cannot_take_closes_it_with_4009(
    redis_url: str, buses: Buses
) -> None:
    # The acceptance case: events reach the socket through its outbox only,
    # so a burst beyond the outbox closes that socket with 4009. (With a
    # queue per subscription in front, sized like the outbox, a burst read in
    # one go overflowed that queue first: the socket was silently
    # unsubscribed, and left open and deaf.)
    bus = await buses.connected(redis_url)
    harness = make_harness()
    services = harness.session_services(bus, outbox_size=16, send_timeout_s=0.2)
    socket = FakeSocket()
    identity = Identity(user_id=harness.add_user(), expires_at=time.time() + 3600)
    session = Session(cast(WebSocket, socket), identity, services)
    task = asyncio.create_task(session.run())
    try:
        socket.says(
            {
                "type": "create_room",
                "request_id": str(uuid.uuid4()),
                "payload": {"ruleset_id": "classic"},
            }
        )
        await eventually(lambda: len(socket.frames) == 1)
        room = json.loads(socket.frames[0])["payload"]["room_id"]
        socket.reading.clear()  # the client stops reading
        admin = admin_client(redis_url)
        try:
            async with admin.pipeline(transaction=False) as pipe:  # one burst, one read
                for i in range(64):
                    pipe.publish(f"room:{room}:events", f'{{"type":"e{i}"}}')
                await pipe.execute()
        finally:
            await admin.aclose()
        await eventually(lambda: session.closing, within_s=RECOVERY_S)
        socket.reading.set()
        async with asyncio.timeout(RECOVERY_S):
            assert await task == 4009
        assert socket.close_codes == [4009]
        await until_subscribers(redis_url, RoomId(uuid.UUID(room)), 0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
