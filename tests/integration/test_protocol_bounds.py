"""One client must not hurt the others: the bounds below the app (docs/operations.md, "Bounds").

Each test runs a real ``rooms serve``, abuses it from a bare socket the way
no library would, and shows the bound: the abuser is refused or closed with
the contract's code, the server's memory (RSS, from /proc) grows by less
than a generous bound, and other clients, handshaking and sending a request
meanwhile, are served within a generous bound. Figures are printed.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import pytest

from tests.integration.fullstack import Serve, add_user
from tests.integration.raw_ws import (
    CONT,
    PING,
    TEXT,
    close_code,
    flood,
    frame,
    open_websocket,
    read_head,
    status_of,
    upgrade_request,
)
from tests.integration.server_probe import log_records, rss_bytes
from tests.integration.server_process import ServerProcess
from tests.integration.ws_support import ask, client, token_for

pytestmark = pytest.mark.integration

T = TypeVar("T")

MiB = 2**20
# Generous on a shared 2-core machine; the unbounded server went far past both
# (hundreds of MiB; other clients waiting 5-30 s).
RSS_GROWTH_BOUND = 48 * MiB
VICTIM_LATENCY_BOUND_S = 5.0


# Takes ``rooms serve`` settings; gives the started server and a new user's token.
Start = Callable[..., Awaitable[tuple[ServerProcess, str]]]
# The control-frame budget lifted, to isolate another bound from it.
NO_CONTROL_FRAME_BUDGET = {
    "ROOMS_CONTROL_FRAMES_PER_SECOND": "1000000",
    "ROOMS_CONTROL_FRAMES_BURST": "1000000",
}


@pytest.fixture
def start(serve: Serve, database_url: str) -> Start:
    async def start_it(**settings: str) -> tuple[ServerProcess, str]:
        return await serve(**settings), await user_token(database_url)

    return start_it


class Victims:
    """Well-behaved clients: a fresh handshake and one request, again and again."""

    def __init__(self) -> None:
        self.latencies: list[float] = []

    @property
    def worst_s(self) -> float:
        return max(self.latencies, default=0.0)

    async def run(self, url: str, token: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            async with asyncio.timeout(60):
                async with client(url, token) as ws:
                    reply = await ask(ws, "{}")
            assert reply["payload"]["code"] == "bad_message"
            self.latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)


@asynccontextmanager
async def victims_meanwhile(url: str, token: str, count: int = 2) -> AsyncIterator[Victims]:
    victims = Victims()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(victims.run(url, token, stop)) for _ in range(count)]
    try:
        yield victims
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert victims.latencies, "the victims were never served"


async def in_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


async def user_token(database_url: str) -> str:
    return token_for(await add_user(database_url, "Victim"))


def print_figures(what: str, server: ServerProcess, before: int, victims: Victims) -> int:
    growth = rss_bytes(server.process.pid) - before
    print(
        f"\n{what}: server RSS {growth / MiB:+.1f} MiB; other clients: "
        f"{len(victims.latencies)} served, worst {victims.worst_s:.3f} s"
    )
    return growth


def assert_bounded(growth: int, victims: Victims) -> None:
    """The server's memory grew, and the other clients waited, within the bounds."""
    assert growth < RSS_GROWTH_BOUND
    assert victims.worst_s < VICTIM_LATENCY_BOUND_S


# --- 1. the handshake: bytes and time ---------------------------------------------------


def endless_head(port: int, kind: str, up_to: int) -> tuple[int, int | None]:
    """Send a request line or a header value that never ends; (bytes sent, status)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    with sock:
        start = b"GET /ws?" if kind == "line" else b"GET /ws HTTP/1.1\r\nX-Endless: "
        sent = 0
        try:
            sock.sendall(start)
            chunk = b"a" * 65536
            sock.settimeout(5)
            while sent < up_to:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # refused and closed under us: the point
        return sent, status_of(read_head(sock, timeout_s=30))


async def test_an_endless_request_head_is_refused_at_the_size_bound(
    start: Start,
) -> None:
    server, token = await start()
    before = rss_bytes(server.process.pid)
    up_to = 32 * MiB
    async with victims_meanwhile(server.url, token) as victims:
        results = await asyncio.gather(
            *(
                asyncio.to_thread(endless_head, server.port, kind, up_to)
                for kind in ["line", "header", "line", "header"]
            )
        )
    growth = print_figures("endless request heads", server, before, victims)
    print(f"abusers (bytes sent, status): {results}")
    for sent, status in results:
        assert status == 431
        assert sent < up_to  # cut off long before the end
    assert_bounded(growth, victims)


async def test_a_head_over_the_bound_is_refused_even_in_one_piece(
    start: Start,
) -> None:
    server, token = await start()

    def handshake_with(padding: int) -> int | None:
        # Headers each under websockets' own line limit (8 KiB), together large.
        headers = "".join(f"X-Pad-{i}: {'p' * 6000}\r\n" for i in range(padding))
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(upgrade_request(server.port, token, extra_headers=headers))
            return status_of(read_head(sock))

    assert await in_thread(lambda: handshake_with(2)) == 101  # ~12.5 KiB
    assert await in_thread(lambda: handshake_with(3)) == 431  # ~18.5 KiB > 16 KiB


async def test_a_handshake_not_done_in_time_is_dropped(start: Start) -> None:
    server, token = await start(ROOMS_HANDSHAKE_TIMEOUT_SECONDS="1")

    def slow_client() -> float:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            # A head that is never finished, one byte now and then.
            sock.sendall(b"GET /ws HTTP/1.1\r\n")
            sock.settimeout(0.5)
            while time.monotonic() - started < 30:
                try:
                    if not sock.recv(1024):
                        break
                except TimeoutError:
                    try:
                        sock.sendall(b"X")
                    except OSError:
                        break
                except ConnectionResetError:
                    break
            return time.monotonic() - started

    async with client(server.url, token) as accepted:
        held_s = await in_thread(slow_client)
        print(f"\nslow handshake dropped after {held_s:.1f} s")
        assert held_s < 20
        # The bound ends at the handshake: a socket accepted well over the
        # bound ago is still served.
        await asyncio.sleep(2)
        assert (await ask(accepted, "{}"))["payload"]["code"] == "bad_message"


# --- 2. a client that pings and never reads ------------------------------------------


def dropped_within(sock: socket.socket, within_s: float) -> bool:
    """Whether the server drops the connection: our sends fail (its RST), or EOF."""
    sock.setblocking(False)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            sock.send(frame(PING))
        except BlockingIOError:
            pass  # our buffers are full: the server is not reading, but still there
        except OSError:
            return True
        time.sleep(0.2)
    return False


async def test_a_client_that_pings_and_never_reads_is_not_read_and_then_dropped(
    start: Start,
) -> None:
    # Isolate the send-buffer bound from the control-frame budget.
    server, token = await start(**NO_CONTROL_FRAME_BUDGET, ROOMS_PING_INTERVAL_SECONDS="2")
    sock = await asyncio.to_thread(open_websocket, server.port, token)
    pings = frame(PING, b"x" * 125) * 512  # ~66 KiB per send, each ping asks a 127-byte pong
    before = rss_bytes(server.process.pid)
    with sock:
        async with victims_meanwhile(server.url, token) as victims:
            sent = await in_thread(lambda: flood(sock, pings, for_s=10))
        growth = print_figures("pings never read", server, before, victims)
        print(f"abuser sent {sent / MiB:.1f} MiB of pings")
        assert_bounded(growth, victims)
        # The keepalive ping is never answered: the connection goes for good.
        assert await in_thread(lambda: dropped_within(sock, 30))


async def test_a_client_that_sends_requests_and_never_reads_is_dropped_for_good(
    start: Start,
) -> None:
    # Every request is answered; the answers pile up: the outbox gives up
    # (4009), the close frame cannot be delivered, and the socket must still go.
    server, token = await start(
        ROOMS_RATE_PER_SECOND="1000000", ROOMS_RATE_BURST="1000000", ROOMS_SEND_TIMEOUT_S="1"
    )
    sock = await asyncio.to_thread(open_websocket, server.port, token)
    before = rss_bytes(server.process.pid)
    with sock:
        sent = await in_thread(lambda: flood(sock, frame(TEXT, b"{}") * 5000, for_s=10))
        growth = rss_bytes(server.process.pid) - before
        print(f"\nrequests never read: {sent / 8:.0f} sent, server RSS {growth / MiB:+.1f} MiB")
        assert growth < RSS_GROWTH_BOUND
        assert await in_thread(lambda: dropped_within(sock, 60))


# --- 3. a ping flood that reads its pongs ----------------------------------------------


async def flood_and_read_close(
    port: int, token: str, chunk: bytes, *, for_s: float
) -> tuple[int, int | None]:
    """Flood from one thread, read from another; (bytes sent, close code)."""
    sock = await asyncio.to_thread(open_websocket, port, token)
    with sock:
        reader = asyncio.create_task(asyncio.to_thread(close_code, sock, for_s + 30))
        sent = await in_thread(lambda: flood(sock, chunk, for_s=for_s))
        return sent, await reader


async def test_a_ping_flood_is_closed_with_4008_and_others_are_served(
    start: Start,
) -> None:
    server, token = await start()
    before = rss_bytes(server.process.pid)
    async with victims_meanwhile(server.url, token) as victims:
        sent, code = await flood_and_read_close(server.port, token, frame(PING) * 10000, for_s=10)
    print_figures("empty ping flood", server, before, victims)
    print(f"abuser sent {sent / 6:.0f} pings, closed with {code}")
    assert code == 4008
    assert victims.worst_s < VICTIM_LATENCY_BOUND_S


async def test_a_connection_within_its_budget_gets_only_its_share_of_the_loop(
    start: Start,
) -> None:
    server, token = await start(**NO_CONTROL_FRAME_BUDGET)
    async with victims_meanwhile(server.url, token, count=4) as victims:
        sent, code = await flood_and_read_close(server.port, token, frame(PING) * 10000, for_s=8)
    print(
        f"\nfair share: {sent / 6 / 8:.0f} pings/s taken; other clients: "
        f"{len(victims.latencies)} served, worst {victims.worst_s:.3f} s"
    )
    # Within its budget: not closed for abuse (1011 is the keepalive, later:
    # this bare client never answers the server's pings).
    assert code in (None, 1011)
    assert victims.worst_s < VICTIM_LATENCY_BOUND_S


# --- 4. endless continuation frames -----------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [{}, {"ROOMS_MAX_FRAGMENTS": "1000000"}],
    ids=["fragment-cap", "frame-overhead-counts"],
)
async def test_endless_continuation_frames_close_with_1009(
    start: Start, settings: dict[str, str]
) -> None:
    server, token = await start(**settings)
    sock = await asyncio.to_thread(open_websocket, server.port, token)
    before = rss_bytes(server.process.pid)
    with sock:
        sock.sendall(frame(TEXT, b"[", fin=False))
        async with victims_meanwhile(server.url, token) as victims:
            reader = asyncio.create_task(asyncio.to_thread(close_code, sock, 40))
            sent = await in_thread(lambda: flood(sock, frame(CONT, fin=False) * 10000, for_s=10))
            code = await reader
    growth = print_figures("empty continuation frames", server, before, victims)
    print(f"abuser sent {sent // 6} fragments, closed with {code}")
    assert code == 1009
    assert_bounded(growth, victims)


# --- 5. invalid UTF-8 ------------------------------------------------------------------------


async def test_invalid_utf8_closes_with_1007_and_one_info_line(
    start: Start,
) -> None:
    server, token = await start()

    def send_invalid() -> int | None:
        with open_websocket(server.port, token) as sock:
            sock.sendall(frame(TEXT, b'{"type": "\xff\xfe"}'))
            return close_code(sock, 30)

    assert await in_thread(send_invalid) == 1007
    await asyncio.to_thread(server.terminate)
    records = log_records(server.log())
    about = [r for r in records if "UTF-8" in r["msg"]]
    assert [r["level"] for r in about] == ["info"], about
    assert about[0]["close_code"] == 1007
    assert not [r for r in records if r["level"] in ("error", "critical")]
    assert "Traceback" not in server.log()
