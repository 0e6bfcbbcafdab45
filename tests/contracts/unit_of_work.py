"""Contract of UnitOfWork, IdempotencyStore and RoomRepository."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from rooms_domain import (
    Completion,
    CreateRoomOk,
    Fresh,
    IdempotencyKeyReused,
    Refusal,
    Replay,
    RequestInProgress,
    RequestKey,
    Room,
    StoredReply,
    UnitOfWork,
    UnitOfWorkFactory,
    UnknownUser,
    UserId,
)
from tests.contracts.support import MakeUser, new_request_id, new_room, random_code


class ContractRefusal(Refusal):
    """A refusal kind of the contract's own: stored and replayed like any other."""


def new_key(user_id: UserId) -> RequestKey:
    return RequestKey(user_id, new_request_id())


def completion(key: RequestKey, room: Room) -> Completion:
    reply = CreateRoomOk(room.room_id, room.code).to_payload()
    return Completion(key, StoredReply.success(reply))


class UnitOfWorkContract:
    """Needs fixtures ``uow_factory`` (UnitOfWorkFactory) and ``make_user`` (MakeUser).

    The store behind ``uow_factory`` must give up waiting on a held
    idempotency key well within a second.
    """

    @staticmethod
    async def _anns_key_and_room(make_user: MakeUser) -> tuple[RequestKey, Room]:
        """A new request key of Ann's and a room of hers, neither stored yet."""
        owner = await make_user("Ann")
        return new_key(owner), new_room(owner, random_code())

    @staticmethod
    async def _committed(uow_factory: UnitOfWorkFactory, room: Room) -> Room:
        """``room``, added (its code was free) and committed."""
        async with uow_factory() as uow:
            assert await uow.rooms.add_if_code_free(room)
            await uow.commit()
        return room

    @staticmethod
    async def _claim_and_add(uow: UnitOfWork, key: RequestKey, room: Room) -> None:
        """Claim Ann's fresh ``key`` and add ``room`` completing it; nothing committed."""
        assert await uow.idempotency.claim(key, "fp") == Fresh("Ann")
        assert await uow.rooms.add_if_code_free(room, completion(key, room))

    async def test_room_committed_is_read_back_with_its_seats(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        room = new_room(owner, random_code(), max_players=3, config={"turn_s": 30, "x": [1]})
        await self._committed(uow_factory, room)
        async with uow_factory() as uow:
            assert await uow.rooms.get(room.room_id) == room
            assert await uow.rooms.code_taken(room.code)

    async def test_nothing_persists_without_commit(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        key, room = await self._anns_key_and_room(make_user)
        async with uow_factory() as uow:
            await self._claim_and_add(uow, key, room)
        async with uow_factory() as uow:
            assert await uow.rooms.get(room.room_id) is None
            assert not await uow.rooms.code_taken(room.code)
            assert await uow.idempotency.claim(key, "fp") == Fresh("Ann")

    async def test_an_error_inside_the_block_rolls_back(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        room = new_room(owner, random_code())
        with pytest.raises(RuntimeError, match="boom"):
            async with uow_factory() as uow:
                await uow.rooms.add_if_code_free(room)
                raise RuntimeError("boom")
        async with uow_factory() as uow:
            assert await uow.rooms.get(room.room_id) is None

    async def test_a_taken_code_is_refused_and_the_transaction_goes_on(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        code = str((await self._committed(uow_factory, new_room(owner, random_code()))).code)
        second, third = new_room(owner, code), new_room(owner, random_code())
        async with uow_factory() as uow:
            assert not await uow.rooms.add_if_code_free(second)
            assert await uow.rooms.add_if_code_free(third)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.rooms.get(second.room_id) is None
            assert await uow.rooms.get(third.room_id) == third

    async def test_a_room_added_with_its_completion_replays_that_reply(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        key, room = await self._anns_key_and_room(make_user)
        async with uow_factory() as uow:
            await self._claim_and_add(uow, key, room)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.idempotency.claim(key, "fp") == Replay(completion(key, room).reply)

    async def test_a_taken_code_leaves_the_key_held_for_the_next_draw(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        code = str((await self._committed(uow_factory, new_room(owner, random_code()))).code)
        key = new_key(owner)
        taken, free = new_room(owner, code), new_room(owner, random_code())
        async with uow_factory() as uow:
            await uow.idempotency.claim(key, "fp")
            assert not await uow.rooms.add_if_code_free(taken, completion(key, taken))
            assert await uow.rooms.add_if_code_free(free, completion(key, free))
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.idempotency.claim(key, "fp") == Replay(completion(key, free).reply)

    async def test_a_completion_of_a_key_not_held_is_refused(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        key, room = await self._anns_key_and_room(make_user)
        async with uow_factory() as uow:
            with pytest.raises(RuntimeError, match="does not hold"):
                await uow.rooms.add_if_code_free(room, completion(key, room))
        async with uow_factory() as uow:
            await uow.idempotency.claim(key, "fp")
            await uow.idempotency.complete(completion(key, room))
            with pytest.raises(RuntimeError, match="does not hold"):
                await uow.idempotency.complete(completion(key, room))
        async with uow_factory() as uow:
            assert await uow.rooms.get(room.room_id) is None

    async def test_a_refusal_is_stored_and_replayed_equal(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        key = new_key(owner)
        refusal = ContractRefusal("the room is full", ({"seat_index": 2, "problem": "x"},))
        async with uow_factory() as uow:
            await uow.idempotency.claim(key, "fp")
            await uow.idempotency.complete(Completion(key, StoredReply.refusal(refusal)))
            await uow.commit()
        async with uow_factory() as uow:
            claim = await uow.idempotency.claim(key, "fp")
        assert isinstance(claim, Replay)
        with pytest.raises(ContractRefusal) as replayed:
            claim.reply.replayed()
        assert replayed.value == refusal
        async with uow_factory() as uow:
            with pytest.raises(IdempotencyKeyReused):
                await uow.idempotency.claim(key, "another payload")

    async def test_completed_key_with_another_fingerprint_is_refused(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        key = new_key(owner)
        await self._complete(uow_factory, key, "fp-1")
        async with uow_factory() as uow:
            with pytest.raises(IdempotencyKeyReused):
                await uow.idempotency.claim(key, "fp-2")

    async def test_request_ids_are_per_user(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann, bob = await make_user("Ann"), await make_user("Bob")
        key = new_key(ann)
        await self._complete(uow_factory, key, "fp")
        async with uow_factory() as uow:
            assert await uow.idempotency.claim(RequestKey(bob, key.request_id), "x") == Fresh("Bob")

    async def test_a_concurrent_claim_waits_for_the_holder_then_replays(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        key, room = await self._anns_key_and_room(make_user)
        async with uow_factory() as first:
            await self._claim_and_add(first, key, room)

            async def second_claim() -> object:
                async with uow_factory() as second:
                    return await second.idempotency.claim(key, "fp")

            waiting = asyncio.create_task(second_claim())
            await asyncio.sleep(0.05)
            await first.commit()
        assert await waiting == Replay(completion(key, room).reply)

    async def test_a_claim_freed_by_rollback_goes_to_the_waiter(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        key = new_key(owner)

        async def second_claim() -> object:
            async with uow_factory() as second:
                return await second.idempotency.claim(key, "fp")

        async with uow_factory() as first:
            assert await first.idempotency.claim(key, "fp") == Fresh("Ann")
            waiting = asyncio.create_task(second_claim())
            await asyncio.sleep(0.05)
        assert await waiting == Fresh("Ann")

    async def test_a_key_held_too_long_is_reported_in_progress(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        key = new_key(owner)
        async with uow_factory() as first:
            assert await first.idempotency.claim(key, "fp") == Fresh("Ann")
            async with uow_factory() as second:
                with pytest.raises(RequestInProgress):
                    await second.idempotency.claim(key, "fp")

    async def test_the_claim_reads_the_claimants_display_name(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann = await make_user("Ann Åström")
        async with uow_factory() as uow:
            assert await uow.idempotency.claim(new_key(ann), "fp") == Fresh("Ann Åström")

    async def test_a_claim_by_an_unknown_user_is_refused_and_holds_nothing(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        key = new_key(UserId(uuid.uuid4()))
        async with uow_factory() as uow:
            with pytest.raises(UnknownUser):
                await uow.idempotency.claim(key, "fp")
        async with uow_factory() as uow:
            with pytest.raises(UnknownUser):  # not held: no wait, the same verdict
                await uow.idempotency.claim(key, "fp")

    @staticmethod
    async def _complete(uow_factory: UnitOfWorkFactory, key: RequestKey, fingerprint: str) -> None:
        room = new_room(key.user_id, random_code())
        async with uow_factory() as uow:
            await uow.idempotency.claim(key, fingerprint)
            await uow.rooms.add_if_code_free(room, completion(key, room))
            await uow.commit()
