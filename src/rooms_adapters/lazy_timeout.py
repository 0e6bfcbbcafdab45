"""A bound armed only if the awaited step has to wait: most writes never do.

A socket write (a WebSocket frame, a Redis command) hands its bytes to the
transport and returns without suspending unless the peer stopped reading.
``asyncio.timeout`` around every such write costs a timer, its cancellation
and a context manager each time (about 4 µs), for a wait that almost never
happens. :func:`bounded_if_it_waits` runs the step up to its first wait and
arms the bound only then, from that moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


async def bounded_if_it_waits(timeout_s: float, step: Coroutine[Any, Any, T]) -> T:
    """``await step``; a wait inside it is bounded by ``timeout_s`` (TimeoutError past it)."""
    try:
        waiting_on = step.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]  # the step's own result
    async with asyncio.timeout(timeout_s):
        return await _Rest(step, waiting_on)


class _Rest(Generic[T]):
    """Awaits the rest of a coroutine that already ran up to its first wait, on ``waiting_on``.

    What ``await`` does for a coroutine it starts itself (``yield from``), for
    one started by hand: the awaiting task waits on what the coroutine waits
    on, sends it the result, and throws into it what is thrown in (the bound's
    cancellation, say).
    """

    __slots__ = ("_step", "_waiting_on")

    def __init__(self, step: Coroutine[Any, Any, T], waiting_on: Any) -> None:
        self._step = step
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, T]:
        step, waiting_on = self._step, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:
                try:
                    waiting_on = step.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]  # the step's result
            else:
                try:
                    waiting_on = step.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]  # the step's result
