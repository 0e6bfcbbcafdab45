"""The outgoing side of one connection: a bounded queue and the one task that writes.

Replies, pushed room events and the final close frame all go through here,
so frames are never interleaved and a client that stops reading costs a
bounded amount of memory: when the queue is full, or one frame cannot be
handed over within the send timeout, the connection is closed with 4009.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from rooms_ws.errors import CloseCode

logger = logging.getLogger(__name__)

# Bound on handing the close frame to a client that may not be reading at all.
CLOSE_TIMEOUT_S = 1.0


class Outbox:
    def __init__(
        self,
        *,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        size: int,
        send_timeout_s: float,
    ) -> None:
        self._send = send
        self._close = close
        self._size = size
        self._send_timeout_s = send_timeout_s
        self._pending: deque[str] = deque()
        self._wake = asyncio.Event()
        self._close_code: CloseCode | None = None
        self._abandoned = False
        self.close_code_sent: int | None = None

    @property
    def closing(self) -> bool:
        return self._close_code is not None or self._abandoned

    def offer(self, text: str) -> bool:
        """Queue a frame without waiting; a full queue closes the connection (4009)."""
        if self.closing:
            return False
        if len(self._pending) >= self._size:
            self.close(CloseCode.SLOW_CONSUMER, flush=False)
            return False
        self._pending.append(text)
        self._wake.set()
        return True

    def close(self, code: CloseCode, *, flush: bool) -> None:
        """Send ``code`` after the queued frames (``flush``) or instead of them."""
        if self.closing:
            return
        self._close_code = code
        if not flush:
            self._pending.clear()
        self._wake.set()

    def abandon(self) -> None:
        """The client is gone: stop without writing anything more."""
        self._abandoned = True
        self._pending.clear()
        self._wake.set()

    async def run(self) -> None:
        """The writer: returns once the close frame is sent or the client is gone."""
        try:
            while not self._abandoned:
                while self._pending and not self._abandoned:
                    text = self._pending.popleft()
                    try:
                        async with asyncio.timeout(self._send_timeout_s):
                            await self._send(text)
                    except TimeoutError:
                        self._pending.clear()
                        self._close_code = CloseCode.SLOW_CONSUMER
                        break
                if self._abandoned:
                    return
                if self._close_code is not None:
                    await self._send_close(self._close_code)
                    return
                self._wake.clear()
                await self._wake.wait()
        except ConnectionError:
            # The client went away under us: nothing left to write to.
            self._abandoned = True
        except Exception:
            logger.exception("outgoing frame writer failed")
            self._abandoned = True

    async def _send_close(self, code: CloseCode) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._close(int(code))
            self.close_code_sent = int(code)
        except TimeoutError:
            # The client reads nothing, not even a close frame; dropping the
            # transport (when the app returns) is all that is left.
            self._abandoned = True
