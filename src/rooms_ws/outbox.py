"""The outgoing side of one connection: a bounded queue, written in order, one frame at a time.

Replies, pushed room events and the final close frame all go through here,
so frames are never interleaved and a client that stops reading costs a
bounded amount of memory: when the queue is full, or one frame cannot be
handed over within the send timeout, the connection is closed with 4009.

An idle connection holds no task here. A reply is written by the reading
task itself (:meth:`send`) when nothing is queued or being written; frames
that arrive meanwhile (room events, from other tasks) are queued, and a
writer task is started only to drain that queue, ending when it is empty.
The close frame is written by :meth:`finish`, after what ``close`` kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rooms_adapters.lazy_timeout import bounded_if_it_waits
from rooms_ws.errors import CloseCode

logger = logging.getLogger(__name__)

# Bound on handing the close frame to a client that may not be reading at all.
CLOSE_TIMEOUT_S = 1.0
# Shared by every outbox with nothing queued yet; never appended to.
_NO_FRAMES: deque[str] = deque(maxlen=0)
# Beyond the send timeout, how long finish() waits for a writer still busy.
_FINISH_GRACE_S = 2.0


class Outbox:
    __slots__ = (
        "_abandoned",
        "_busy",
        "_close",
        "_close_code",
        "_drainer",
        "_on_stop",
        "_pending",
        "_send",
        "_send_timeout_s",
        "_size",
        "close_code_sent",
    )

    def __init__(
        self,
        *,
        send: Callable[[str], Coroutine[Any, Any, None]],
        close: Callable[[int], Awaitable[None]],
        size: int,
        send_timeout_s: float,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self._send = send
        self._close = close
        self._size = size
        self._send_timeout_s = send_timeout_s
        # Called when the outbox gives up by itself (slow consumer, client gone).
        self._on_stop = on_stop
        # Made on the first queued frame: an empty deque costs ~0.7 KiB, and
        # most connections never queue anything.
        self._pending: deque[str] = _NO_FRAMES
        self._drainer: asyncio.Task[None] | None = None  # only while frames are queued
        self._busy = False  # a frame is being written by send()
        self._close_code: CloseCode | None = None
        self._abandoned = False
        self.close_code_sent: int | None = None

    @property
    def closing(self) -> bool:
        return self._close_code is not None or self._abandoned

    @property
    def close_code(self) -> int | None:
        """The code this side decided to close with, whether or not it could be sent."""
        return None if self._close_code is None else int(self._close_code)

    def offer(self, text: str) -> bool:
        """Queue a frame without waiting; a full queue closes the connection (4009)."""
        if self.closing:
            return False
        if len(self._pending) >= self._size:
            self.close(CloseCode.SLOW_CONSUMER, flush=False)
            self._stopped()
            return False
        if self._pending is _NO_FRAMES:
            self._pending = deque()
        self._pending.append(text)
        if self._drainer is None and not self._busy:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return True

    async def send(self, text: str) -> None:
        """Write ``text`` now if nothing is ahead of it, else queue it like :meth:`offer`."""
        if self._drainer is not None or self._busy or self._pending:
            self.offer(text)
            return
        if self.closing:
            return
        self._busy = True
        try:
            await self._write(text)
        finally:
            self._busy = False
        if self._pending and self._drainer is None and not self.closing:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    def close(self, code: CloseCode, *, flush: bool) -> None:
        """Send ``code`` after the queued frames (``flush``) or instead of them."""
        if self.closing:
            return
        self._close_code = code
        if not flush:
            self._pending.clear()

    def abandon(self) -> None:
        """The client is gone: stop without writing anything more."""
        self._abandoned = True
        self._pending.clear()

    async def finish(self) -> None:
        """After :meth:`close` or :meth:`abandon`: write what is left, then the close frame."""
        writer = self._drainer
        if writer is not None:
            try:
                # The writer bounds each send; this is a backstop.
                async with asyncio.timeout(self._send_timeout_s + _FINISH_GRACE_S):
                    await writer
            except TimeoutError:
                writer.cancel()
                self._abandoned = True
        while self._pending and not self._abandoned:
            if not await self._write(self._pending.popleft()):
                break
        if not self._abandoned and self._close_code is not None:
            await self._send_close(self._close_code)

    # --- writing ---------------------------------------------------------------------

    async def _drain(self) -> None:
        try:
            while self._pending and not self._abandoned:
                if not await self._write(self._pending.popleft()):
                    return
        finally:
            self._drainer = None

    async def _write(self, text: str) -> bool:
        """One frame, bounded; False once the outbox has given up."""
        try:
            # The socket takes a frame at once unless its buffer is full: the
            # usual frame costs no timer (the bound starts if the send waits).
            await bounded_if_it_waits(self._send_timeout_s, self._send(text))
            return True
        except TimeoutError:
            self._pending.clear()
            self._close_code = CloseCode.SLOW_CONSUMER
        except ConnectionError:
            # The client went away under us: nothing left to write to.
            self._abandoned = True
            self._pending.clear()
        except Exception:
            logger.exception("outgoing frame writer failed")
            self._abandoned = True
            self._pending.clear()
        self._stopped()
        return False

    def _stopped(self) -> None:
        if self._on_stop is not None:
            self._on_stop()

    async def _send_close(self, code: CloseCode) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._close(int(code))
            self.close_code_sent = int(code)
        except TimeoutError:
            # The client reads nothing, not even a close frame; dropping the
            # transport (when the app returns) is all that is left.
            self._abandoned = True
        except ConnectionError:
            self._abandoned = True
        except Exception:
            logger.exception("writing the close frame failed")
            self._abandoned = True
