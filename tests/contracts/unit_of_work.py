"""Contract of UnitOfWork, IdempotencyStore, RoomRepository and UserDirectory."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from rooms_domain import (
    Completed,
    CreateRoomOk,
    Fresh,
    IdempotencyKeyReused,
    RequestId,
    RequestInProgress,
    UnitOfWorkFactory,
    UserId,
)
from tests.contracts.support import MakeUser, new_request_id, new_room, random_code


class UnitOfWorkContract:
    """Needs fixtures ``uow_factory`` (UnitOfWorkFactory) and ``make_user`` (MakeUser).

    The store behind ``uow_factory`` must give up waiting on a held
    idempotency key well within a second.
    """

    async def test_room_committed_is_read_back_with_its_seats(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        room = new_room(owner, random_code(), max_players=3, config={"turn_s": 30, "x": [1]})
        async with uow_factory() as uow:
            assert await uow.rooms.add_if_code_free(room)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.rooms.get(room.room_id) == room
            assert await uow.rooms.code_taken(room.code)

    async def test_nothing_persists_without_commit(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        room = new_room(owner, random_code())
        request_id = new_request_id()
        async with uow_factory() as uow:
            assert await uow.idempotency.claim(owner, request_id, "fp") == Fresh()
            assert await uow.rooms.add_if_code_free(room)
            await uow.idempotency.complete(
                owner, request_id, "fp", CreateRoomOk(room.room_id, room.code)
            )
        async with uow_factory() as uow:
            assert await uow.rooms.get(room.room_id) is None
            assert not await uow.rooms.code_taken(room.code)
            assert await uow.idempotency.claim(owner, request_id, "fp") == Fresh()

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
        code = random_code()
        async with uow_factory() as uow:
            assert await uow.rooms.add_if_code_free(new_room(owner, code))
            await uow.commit()
        second, third = new_room(owner, code), new_room(owner, random_code())
        async with uow_factory() as uow:
            assert not await uow.rooms.add_if_code_free(second)
            assert await uow.rooms.add_if_code_free(third)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.rooms.get(second.room_id) is None
            assert await uow.rooms.get(third.room_id) == third

    async def test_completed_key_replays_the_stored_result(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        request_id = new_request_id()
        room = new_room(owner, random_code())
        result = CreateRoomOk(room.room_id, room.code)
        async with uow_factory() as uow:
            assert await uow.idempotency.claim(owner, request_id, "fp-1") == Fresh()
            await uow.rooms.add_if_code_free(room)
            await uow.idempotency.complete(owner, request_id, "fp-1", result)
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.idempotency.claim(owner, request_id, "fp-1") == Completed(result)

    async def test_completed_key_with_another_fingerprint_is_refused(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        request_id = new_request_id()
        await self._complete(uow_factory, owner, request_id, "fp-1")
        async with uow_factory() as uow:
            with pytest.raises(IdempotencyKeyReused):
                await uow.idempotency.claim(owner, request_id, "fp-2")

    async def test_request_ids_are_per_user(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann, bob = await make_user("Ann"), await make_user("Bob")
        request_id = new_request_id()
        await self._complete(uow_factory, ann, request_id, "fp")
        async with uow_factory() as uow:
            assert await uow.idempotency.claim(bob, request_id, "other") == Fresh()

    async def test_a_concurrent_claim_waits_for_the_holder_then_replays(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        request_id = new_request_id()
        room = new_room(owner, random_code())
        result = CreateRoomOk(room.room_id, room.code)
        async with uow_factory() as first:
            assert await first.idempotency.claim(owner, request_id, "fp") == Fresh()
            await first.rooms.add_if_code_free(room)
            await first.idempotency.complete(owner, request_id, "fp", result)

            async def second_claim() -> object:
                async with uow_factory() as second:
                    return await second.idempotency.claim(owner, request_id, "fp")

            waiting = asyncio.create_task(second_claim())
            await asyncio.sleep(0.05)
            await first.commit()
        assert await waiting == Completed(result)

    async def test_a_claim_freed_by_rollback_goes_to_the_waiter(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        request_id = new_request_id()

        async def second_claim() -> object:
            async with uow_factory() as second:
                return await second.idempotency.claim(owner, request_id, "fp")

        async with uow_factory() as first:
            assert await first.idempotency.claim(owner, request_id, "fp") == Fresh()
            waiting = asyncio.create_task(second_claim())
            await asyncio.sleep(0.05)
        assert await waiting == Fresh()

    async def test_a_key_held_too_long_is_reported_in_progress(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        owner = await make_user("Ann")
        request_id = new_request_id()
        async with uow_factory() as first:
            assert await first.idempotency.claim(owner, request_id, "fp") == Fresh()
            async with uow_factory() as second:
                with pytest.raises(RequestInProgress):
                    await second.idempotency.claim(owner, request_id, "fp")

    async def test_display_names_of_known_and_unknown_users(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann = await make_user("Ann Åström")
        async with uow_factory() as uow:
            assert await uow.users.display_name(ann) == "Ann Åström"
            assert await uow.users.display_name(UserId(uuid.uuid4())) is None

    @staticmethod
    async def _complete(
        uow_factory: UnitOfWorkFactory, owner: UserId, request_id: RequestId, fingerprint: str
    ) -> CreateRoomOk:
        room = new_room(owner, random_code())
        result = CreateRoomOk(room.room_id, room.code)
        async with uow_factory() as uow:
            await uow.idempotency.claim(owner, request_id, fingerprint)
            await uow.rooms.add_if_code_free(room)
            await uow.idempotency.complete(owner, request_id, fingerprint, result)
            await uow.commit()
        return result
