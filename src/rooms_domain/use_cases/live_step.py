"""The live view step after a commit: bounded, best effort, never the caller's failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from rooms_domain.model import RoomId
from rooms_domain.ports import LiveStateFailure


async def live_step(
    step: Callable[[], Awaitable[None]],
    room_id: RoomId,
    *,
    timeout_s: float,
    logger: logging.Logger,
) -> bool:
    """Run one live-state call within ``timeout_s``; say whether it was done.

    The durable store is the truth and the change is committed: a cache that
    fails or hangs must cost the caller at most the bound, never the answer.
    """
    try:
        async with asyncio.timeout(timeout_s):
            await step()
    except LiveStateFailure as exc:
        # An outage the adapter knows and reports once per episode: while
        # Redis is down this runs for every request, so one brief line each
        # (an operator still learns which rooms miss their view).
        logger.warning(
            "live state not written for room %s (%s: %s)",
            room_id,
            type(exc).__name__,
            exc,
            extra={"room_id": str(room_id), "error": type(exc).__name__},
        )
        return False
    except Exception:
        # Not an outage the adapter declared (or it broke its own bound):
        # a bug to look at, so the traceback goes with it.
        logger.warning(
            "live state not written for room %s",
            room_id,
            exc_info=True,
            extra={"room_id": str(room_id)},
        )
        return False
    return True
