"""The outgoing side of one connection, against a fake socket: order, bounds, closing."""

from __future__ import annotations

import asyncio

import pytest

from rooms_ws.errors import CloseCode
from rooms_ws.outbox import Outbox
from tests.contracts.support import eventually


class FakeSocket:
    """Takes frames while its gate is open; a closed gate is a client that stopped reading."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.close_codes: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.writing = asyncio.Event()  # a send is in progress (maybe blocked)

    async def send(self, text: str) -> None:
        self.writing.set()
        await self.gate.wait()
        self.frames.append(text)

    async def close(self, code: int) -> None:
        await self.gate.wait()
        self.close_codes.append(code)


def outbox(socket: FakeSocket, *, size: int = 4, send_timeout_s: float = 5.0) -> Outbox:
    return Outbox(send=socket.send, close=socket.close, size=size, send_timeout_s=send_timeout_s)


async def blocked_with_one_queued(socket: FakeSocket, written: str, queued: str) -> Outbox:
    """An outbox writing ``written`` to a client that stopped reading, ``queued`` behind it."""
    box = outbox(socket)
    socket.gate.clear()
    assert box.offer(written)
    await socket.writing.wait()
    assert box.offer(queued)
    return box


async def test_replies_and_offered_frames_go_out_in_the_order_they_came() -> None:
    socket = FakeSocket()
    box = outbox(socket, size=100)
    socket.gate.clear()
    first = asyncio.create_task(box.send("reply-1"))  # written by the caller, blocked
    await socket.writing.wait()
    assert box.offer("event-1")  # queued behind it
    await box.send("reply-2")  # queued too: nothing overtakes
    assert box.offer("event-2")
    socket.gate.set()
    await first
    await eventually(lambda: len(socket.frames) == 4)
    assert socket.frames == ["reply-1", "event-1", "reply-2", "event-2"]
    box.close(CloseCode.NORMAL, flush=True)
    await box.finish()
    assert socket.close_codes == [1000] and box.close_code_sent == 1000


async def test_a_full_queue_closes_with_4009_and_drops_what_was_queued() -> None:
    socket = FakeSocket()
    stopped: list[bool] = []
    box = Outbox(
        send=socket.send,
        close=socket.close,
        size=3,
        send_timeout_s=0.05,
        on_stop=lambda: stopped.append(True),
    )
    socket.gate.clear()  # the client reads nothing
    assert box.offer("e0")
    await socket.writing.wait()  # e0 is being written and blocks
    assert all(box.offer(f"e{i}") for i in range(1, 4))
    assert not box.offer("one too many")
    assert box.closing and stopped
    assert not box.offer("after")
    socket.gate.set()  # the close frame itself gets through
    await box.finish()
    assert socket.close_codes == [4009] and box.close_code_sent == 4009
    assert "e3" not in socket.frames


async def test_a_frame_not_taken_within_the_send_timeout_is_a_slow_consumer() -> None:
    socket = FakeSocket()
    box = outbox(socket, send_timeout_s=0.05)
    socket.gate.clear()
    await box.send("never taken")
    assert box.closing
    socket.gate.set()
    await box.finish()
    assert socket.close_codes == [4009]


async def test_close_while_a_send_is_blocked_writes_the_rest_then_the_close_frame() -> None:
    socket = FakeSocket()
    box = await blocked_with_one_queued(socket, "first", "second")
    box.close(CloseCode.SERVICE_RESTART, flush=True)
    assert not box.offer("too late")  # nothing new once closing
    finishing = asyncio.create_task(box.finish())
    await asyncio.sleep(0.01)
    assert not finishing.done()  # waits for the blocked frame, within its bound
    socket.gate.set()
    await finishing
    assert socket.frames == ["first", "second"]
    assert socket.close_codes == [1012]


async def test_close_while_a_send_stays_blocked_ends_within_the_bounds() -> None:
    socket = FakeSocket()
    box = outbox(socket, send_timeout_s=0.05)
    socket.gate.clear()  # and never opened again: not even a close frame goes out
    assert box.offer("stuck")
    await socket.writing.wait()
    box.close(CloseCode.NORMAL, flush=True)
    async with asyncio.timeout(10):  # a guard: the send and close bounds are ~1 s
        await box.finish()
    assert socket.frames == [] and socket.close_codes == []
    assert box.close_code_sent is None


async def test_close_without_flush_drops_the_queue() -> None:
    socket = FakeSocket()
    box = await blocked_with_one_queued(socket, "being written", "dropped")
    box.close(CloseCode.TOKEN_EXPIRED, flush=False)
    socket.gate.set()
    await box.finish()
    assert socket.frames == ["being written"]
    assert socket.close_codes == [4001]


async def test_an_abandoned_outbox_writes_nothing_more() -> None:
    socket = FakeSocket()
    box = outbox(socket)
    box.abandon()
    assert not box.offer("x")
    await box.send("y")
    await box.finish()
    assert socket.frames == [] and socket.close_codes == []


async def test_a_client_gone_mid_send_stops_the_outbox_without_a_close_frame() -> None:
    socket = FakeSocket()
    stopped: list[bool] = []

    async def gone(text: str) -> None:
        raise ConnectionError("client gone")

    box = Outbox(
        send=gone,
        close=socket.close,
        size=4,
        send_timeout_s=1.0,
        on_stop=lambda: stopped.append(True),
    )
    await box.send("lost")
    assert box.closing and stopped
    box.close(CloseCode.NORMAL, flush=True)
    await box.finish()
    assert socket.close_codes == []


async def test_a_frame_taken_at_once_starts_no_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[float] = []
    timeout = asyncio.timeout

    def counted(delay: float | None) -> asyncio.Timeout:
        bounds.append(0.0 if delay is None else delay)
        return timeout(delay)

    monkeypatch.setattr(asyncio, "timeout", counted)
    socket = FakeSocket()
    box = outbox(socket, send_timeout_s=5.0)
    await box.send("reply")
    assert box.offer("event")
    await eventually(lambda: len(socket.frames) == 2)
    assert bounds == []  # the socket never made a send wait
    socket.gate.clear()
    socket.writing.clear()
    sending = asyncio.create_task(box.send("waits"))
    await socket.writing.wait()
    assert bounds == [5.0]  # a send that waits is bounded
    socket.gate.set()
    await sending
    assert socket.frames == ["reply", "event", "waits"]


async def test_a_client_gone_after_a_wait_stops_the_outbox_as_at_once() -> None:
    socket = FakeSocket()
    gate = asyncio.Event()

    async def gone_later(text: str) -> None:
        await gate.wait()
        raise ConnectionError("client gone")

    box = Outbox(send=gone_later, close=socket.close, size=4, send_timeout_s=5.0)
    sending = asyncio.create_task(box.send("lost"))
    await asyncio.sleep(0)
    gate.set()
    await sending
    assert box.closing
    box.close(CloseCode.NORMAL, flush=True)
    await box.finish()
    assert socket.close_codes == []


async def test_a_cancelled_writer_is_cancelled_and_its_send_closed() -> None:
    socket = FakeSocket()
    box = outbox(socket)
    socket.gate.clear()
    sending = asyncio.create_task(box.send("stuck"))
    await socket.writing.wait()
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    socket.gate.set()
    await asyncio.sleep(0.01)
    assert socket.frames == []  # the send was ended where it waited, not resumed
