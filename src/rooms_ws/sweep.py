"""Running the sweep: every ``ROOMS_SWEEP_INTERVAL_SECONDS`` in ``serve``, once in ``rooms sweep``.

In ``serve`` the loop is a task of the app's lifespan, cancelled on
shutdown. A failing round (PostgreSQL or Redis away) is logged once when
the failures start, with the reason, and once when rounds succeed again:
never one line per round, never an exception out of the task, so the
server never stops for it. Every round's outcome goes to the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from dependency_injector import providers

from rooms_domain.housekeeping import Housekeeping, SweepReport
from rooms_ws import metrics
from rooms_ws.container import Container
from rooms_ws.settings import Settings

logger = logging.getLogger(__name__)


def record(report: SweepReport) -> None:
    """Put one round's outcome in the metrics."""
    if not report.acted:
        metrics.SWEEP_ROUNDS.labels("skipped").inc()
        return
    metrics.SWEEP_ROUNDS.labels("failed" if report.failed else "acted").inc()
    metrics.SWEEP_SECONDS.observe(report.seconds)
    for task in report.tasks:
        if task.name == "closed rooms":
            metrics.SWEEP_DELETED.labels("room").inc(task.done)
            if task.error is None:
                metrics.SWEEP_BACKLOG.labels("closed_rooms_waiting").set(task.waiting)
        elif task.name == "idempotency rows":
            metrics.SWEEP_DELETED.labels("idempotency").inc(task.done)
        elif task.name == "live views":
            metrics.SWEEP_VIEWS_REBUILT.inc(task.done)
            if task.error is None:
                metrics.SWEEP_BACKLOG.labels("views_rebuilt_last_round").set(task.done)
    for status, count in (report.rooms_by_status or {}).items():
        metrics.ROOMS_BY_STATUS.labels(status).set(count)


class SweepLoop:
    """A round every ``interval_s`` until cancelled; failures logged once per episode."""

    def __init__(self, housekeeping: Housekeeping, interval_s: float) -> None:
        self._housekeeping = housekeeping
        self._interval_s = interval_s
        self._failing: str | None = None
        self.rounds = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.run_round()

    async def run_round(self) -> SweepReport | None:
        try:
            report = await self._housekeeping.run_round()
        except Exception as exc:
            metrics.SWEEP_ROUNDS.labels("failed").inc()
            self._failed(f"{type(exc).__name__}: {exc}", exc)
            return None
        self.rounds += 1
        record(report)
        if report.failed:
            self._failed("; ".join(task.line() for task in report.failed), None)
        elif self._failing is not None:
            logger.info("sweep: rounds succeed again")
            self._failing = None
        return report

    def _failed(self, reason: str, exc: Exception | None) -> None:
        if self._failing is None:
            logger.warning(
                "sweep: round failed; retrying every interval, quietly until it succeeds",
                exc_info=exc,
                extra={"reason": reason},
            )
        self._failing = reason


@contextlib.asynccontextmanager
async def sweeping(
    housekeeping: Housekeeping | None, interval_s: float
) -> AsyncIterator[SweepLoop | None]:
    """Run the loop for the block (nothing when there is no housekeeping)."""
    if housekeeping is None:
        yield None
        return
    loop = SweepLoop(housekeeping, interval_s)
    task = asyncio.create_task(loop.run(), name="rooms-sweep")
    try:
        yield loop
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def sweep_once(settings: Settings) -> SweepReport:
    """One round on the configured (or embedded) stores, for ``rooms sweep``."""
    from rooms_ws.app import resolve

    container = Container()
    container.settings.override(providers.Object(settings))
    try:
        housekeeping = await resolve(container.housekeeping)
        if housekeeping is None:  # the container always builds one on real stores
            raise RuntimeError("no housekeeping for these stores")
        # On demand: acts whatever the serving instances' pacing says.
        return await housekeeping.run_round(whole_view_pass=True, paced=False)
    finally:
        closing = container.shutdown_resources()
        if closing is not None:
            await closing
