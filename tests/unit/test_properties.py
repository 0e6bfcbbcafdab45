"""Idempotency under any interleaving: one room per (user, request_id), replays equal the first.

Commands run in batches: the commands of a batch run concurrently (``asyncio.gather``),
the batches one after another. The in-memory Unit of Work alone would run each
command to completion without ever suspending, so it is wrapped to yield to the
event loop a Hypothesis-chosen number of times around every store call: the
transactions really interleave.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rooms_adapters.memory import MemoryUnitOfWork, MemoryUnitOfWorkFactory
from rooms_domain import (
    CreateRoomCommand,
    CreateRoomOutcome,
    IdempotencyKeyReused,
    RequestId,
    ScriptedCodeGenerator,
    UserId,
)
from tests.contracts.support import WrappedUnitOfWork
from tests.unit.harness import command, make_harness, new_request_id

USERS = 2
REQUEST_IDS = 3
# Payloads 0 and 1 are the same request (defaults omitted, then spelled out); 2 is another.
PAYLOADS: list[dict[str, object]] = [
    {},
    {"visibility": "private", "max_players": 4, "ruleset_config": {}},
    {"max_players": 3, "ruleset_config": {"turn_s": 30}},
]
SAME_REQUEST = {0: 0, 1: 0, 2: 2}

Step = tuple[int, int, int]  # (user, request id, payload), indices into the tables above
steps = st.tuples(
    st.integers(0, USERS - 1), st.integers(0, REQUEST_IDS - 1), st.integers(0, len(PAYLOADS) - 1)
)
# Scripted draws from so few codes collide, in committed rooms and in open transactions.
HOT_CODES = ["AAAAAA", "BBBBBB", "CCCCCC"]
batches = st.lists(st.lists(steps, min_size=1, max_size=5), min_size=1, max_size=6)


class _Yielding:
    """Proxy for a store: every awaited method yields to the loop before and after."""

    def __init__(self, inner: object, pauses: Callable[[], Awaitable[None]]) -> None:
        self._inner = inner
        self._pauses = pauses

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._inner, name)

        async def call(*args: object, **kwargs: object) -> Any:
            await self._pauses()
            result = await method(*args, **kwargs)
            await self._pauses()
            return result

        return call


class YieldingUnitOfWork(WrappedUnitOfWork[MemoryUnitOfWork]):
    def __init__(self, inner: MemoryUnitOfWork, yields: int) -> None:
        super().__init__(inner)
        self._yields = yields
        self.idempotency = _Yielding(inner.idempotency, self._pause)
        self.rooms = _Yielding(inner.rooms, self._pause)

    async def _pause(self) -> None:
        for _ in range(self._yields):
            await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        await self._pause()
        return await super().__aenter__()

    async def commit(self) -> None:
        await self._pause()
        await super().commit()


@dataclass
class Answer:
    step: Step
    cmd: CreateRoomCommand
    outcome: CreateRoomOutcome | BaseException


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    plan=batches,
    yields=st.lists(st.integers(0, 3), min_size=1, max_size=8),
    hot_codes=st.lists(st.sampled_from(HOT_CODES), max_size=8),
)
async def test_one_room_per_key_and_every_replay_equals_the_first_answer(
    plan: list[list[Step]], yields: list[int], hot_codes: list[str]
) -> None:
    # The scripted codes come first, then secure ones: a command meets at most every
    # scripted code taken before a secure draw succeeds.
    codes = ScriptedCodeGenerator(hot_codes)
    pauses = itertools.cycle(yields)

    def yielding(db: Any) -> Callable[[], YieldingUnitOfWork]:
        memory = MemoryUnitOfWorkFactory(db)
        return lambda: YieldingUnitOfWork(memory(), next(pauses))

    # The lock wait only bounds a bug: no transaction here holds a key for long.
    h = make_harness(
        codes=codes, uow_factory=yielding, lock_wait_s=30.0, max_code_draws=len(hot_codes) + 1
    )
    users = [h.add_user(f"user-{i}") for i in range(USERS)]
    request_ids = [new_request_id() for _ in range(REQUEST_IDS)]

    answers: list[Answer] = []
    for batch in plan:
        cmds = [command(users[u], request_ids[r], **PAYLOADS[p]) for u, r, p in batch]
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(h.create_room.run(c) for c in cmds), return_exceptions=True), 30
        )
        answers += [Answer(s, c, o) for s, c, o in zip(batch, cmds, outcomes, strict=True)]
        batch_keys = [(u, r) for u, r, _ in batch]
        if len(set(batch_keys)) < len(batch_keys):
            event("one key sent twice in a concurrent batch")

    keys = {(users[u], request_ids[r]) for u, r, _ in itertools.chain.from_iterable(plan)}
    by_key: dict[tuple[UserId, RequestId], list[Answer]] = {key: [] for key in keys}
    for answer in answers:
        by_key[(answer.cmd.user_id, answer.cmd.request_id)].append(answer)

    if any(isinstance(a.outcome, CreateRoomOutcome) and a.outcome.code_draws > 1 for a in answers):
        event("a code was redrawn")
    if any(isinstance(a.outcome, IdempotencyKeyReused) for a in answers):
        event("a key was reused with another payload")

    # Exactly one room, one idempotency record and one live view per distinct key.
    assert len(h.db.rooms) == len(keys)
    assert set(h.db.idempotency) == keys
    assert set(h.cache.views) == set(h.db.rooms)
    assert len({room.code for room in h.db.rooms.values()}) == len(keys)
    assert h.db.held_keys == set()
    assert h.db.held_codes == set()

    for (user, request_id), key_answers in by_key.items():
        for answer in key_answers:
            assert isinstance(answer.outcome, CreateRoomOutcome | IdempotencyKeyReused), (
                answer.outcome
            )
        created = [
            a
            for a in key_answers
            if isinstance(a.outcome, CreateRoomOutcome) and not a.outcome.replayed
        ]
        assert len(created) == 1
        first = created[0]
        assert isinstance(first.outcome, CreateRoomOutcome)
        first_result = first.outcome.result
        winner = SAME_REQUEST[first.step[2]]

        room = h.db.rooms[first_result.room_id]
        assert room.owner_user_id == user
        assert room.code == first_result.code
        assert h.stored_reply(user, request_id) == first_result

        for answer in key_answers:
            if SAME_REQUEST[answer.step[2]] == winner:
                # The same request: every answer is the first one.
                assert isinstance(answer.outcome, CreateRoomOutcome)
                assert answer.outcome.result == first_result
            else:
                # Another payload under a used key: refused, never a second room.
                assert isinstance(answer.outcome, IdempotencyKeyReused)


async def test_the_yielding_unit_of_work_really_interleaves_transactions() -> None:
    """Guards the property above: without interleaving it would prove much less."""
    log: list[str] = []

    class Recording(MemoryUnitOfWork):
        async def commit(self) -> None:
            log.append("commit")
            await super().commit()

    def recording(db: Any) -> Callable[[], YieldingUnitOfWork]:
        return lambda: YieldingUnitOfWork(Recording(db), 2)

    h = make_harness(uow_factory=recording)
    user = h.add_user()
    started = 0

    async def run(cmd: CreateRoomCommand) -> None:
        nonlocal started
        started += 1
        log.append(f"start {started}")
        await h.create_room.run(cmd)

    await asyncio.gather(*(run(command(user)) for _ in range(3)))

    assert log[:3] == ["start 1", "start 2", "start 3"]
    assert log.count("commit") == 3
    assert len(h.db.rooms) == 3
