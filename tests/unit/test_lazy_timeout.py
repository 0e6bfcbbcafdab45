"""bounded_if_it_waits: await a step, with a bound armed only once the step waits."""

from __future__ import annotations

import asyncio

import pytest

from rooms_adapters.lazy_timeout import bounded_if_it_waits


@pytest.fixture
def bounds(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """The bounds armed, as asyncio.timeout is called."""
    armed: list[float | None] = []
    timeout = asyncio.timeout

    def counted(delay: float | None) -> asyncio.Timeout:
        armed.append(delay)
        return timeout(delay)

    monkeypatch.setattr(asyncio, "timeout", counted)
    return armed


async def test_a_step_that_never_waits_gives_its_result_and_arms_nothing(
    bounds: list[float | None],
) -> None:
    async def at_once() -> int:
        return 7

    assert await bounded_if_it_waits(1.0, at_once()) == 7
    assert bounds == []


async def test_a_step_that_waits_is_bounded_from_then_and_gives_its_result(
    bounds: list[float | None],
) -> None:
    gate = asyncio.Event()

    async def waits() -> str:
        await asyncio.sleep(0)  # a bare yield, as a closing transport's drain does
        await gate.wait()
        return "done"

    step = asyncio.create_task(bounded_if_it_waits(5.0, waits()))
    await asyncio.sleep(0.01)
    assert bounds == [5.0] and not step.done()
    gate.set()
    assert await step == "done"


async def test_a_step_waiting_past_the_bound_times_out_and_is_ended() -> None:
    ended: list[bool] = []

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(True)

    with pytest.raises(TimeoutError):
        await bounded_if_it_waits(0.01, stuck())
    assert ended == [True]


async def test_what_the_step_raises_comes_out_before_or_after_a_wait() -> None:
    async def fails_at_once() -> None:
        raise ConnectionError("at once")

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("later")

    with pytest.raises(ConnectionError, match="at once"):
        await bounded_if_it_waits(1.0, fails_at_once())
    with pytest.raises(ConnectionError, match="later"):
        await bounded_if_it_waits(1.0, fails_later())


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        await asyncio.Event().wait()

    step = asyncio.create_task(bounded_if_it_waits(5.0, waits()))
    await started.wait()
    step.cancel()
    with pytest.raises(asyncio.CancelledError):
        await step
