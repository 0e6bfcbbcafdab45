"""Contract of the lobby's RoomRepository methods: lock, lock_by_code, load, save."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest

from rooms_domain import (
    Completion,
    Fresh,
    Replay,
    RequestInProgress,
    RequestKey,
    Room,
    RoomCode,
    RoomId,
    RoomStatus,
    SeatStatus,
    StoredReply,
    StoreUnavailable,
    UnitOfWork,
    UnitOfWorkFactory,
    UserId,
)
from tests.contracts.support import MakeUser, new_request_id, new_room, random_code


def new_key(user_id: UserId) -> RequestKey:
    return RequestKey(user_id, new_request_id())


def done(key: RequestKey, room: Room) -> Completion:
    return Completion(key, StoredReply.success({"room_id": str(room.room_id), "v": room.version}))


class LobbyStoreContract:
    """Needs fixtures ``uow_factory`` (UnitOfWorkFactory) and ``make_user`` (MakeUser).

    The store must give up waiting on a locked room well within a second.
    """

    async def _committed_room(
        self, uow_factory: UnitOfWorkFactory, owner: UserId, *, max_players: int = 4
    ) -> Room:
        room = new_room(owner, random_code(), max_players=max_players)
        async with uow_factory() as uow:
            assert await uow.rooms.add_if_code_free(room)
            await uow.commit()
        return room

    async def _anns_room_and_bobs_key(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> tuple[UserId, UserId, Room, RequestKey]:
        """Ann, Bob, the room Ann committed, and a new request key of Bob's."""
        ann, bob = await make_user("Ann"), await make_user("Bob")
        room = await self._committed_room(uow_factory, ann)
        return ann, bob, room, new_key(bob)

    async def _bob_seated_in_anns_room(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> tuple[UserId, UserId, Room, Room]:
        """Ann, Bob, Ann's room as committed, and that room once Bob's join is committed."""
        ann, bob, room, _ = await self._anns_room_and_bobs_key(uow_factory, make_user)
        return ann, bob, room, await self._joined(uow_factory, room, bob, "Bob")

    async def _join_and_save(self, uow: UnitOfWork, key: RequestKey, room: Room, name: str) -> Room:
        """In ``uow``: claim ``key``, lock ``room``, seat the key's user, save; not committed."""
        assert await uow.idempotency.claim(key, "fp") == Fresh(name)
        locked = await uow.rooms.lock(room.room_id)
        assert locked is not None
        after = locked.room.join(key.user_id, name).room
        await uow.rooms.save(after, done(key, after))
        return after

    async def _joined(
        self, uow_factory: UnitOfWorkFactory, room: Room, user: UserId, name: str
    ) -> Room:
        """``room`` after ``user`` joined, saved and committed."""
        async with uow_factory() as uow:
            after = await self._join_and_save(uow, new_key(user), room, name)
            await uow.commit()
        return after

    async def test_lock_reads_the_room_its_seats_and_the_seated_names(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann = await make_user("Ann Åström")
        room = await self._committed_room(uow_factory, ann, max_players=3)
        async with uow_factory() as uow:
            by_id = await uow.rooms.lock(room.room_id)
            by_code = await uow.rooms.lock_by_code(room.code)
            loaded = await uow.rooms.load(room.room_id)
        assert by_id is not None and by_code is not None and loaded is not None
        assert by_id.room == by_code.room == loaded.room == room
        assert dict(by_id.display_names) == {ann: "Ann Åström"} == dict(loaded.display_names)

    async def test_an_unknown_room_or_code_is_none(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        async with uow_factory() as uow:
            assert await uow.rooms.lock(RoomId(uuid.uuid4())) is None
            assert await uow.rooms.lock_by_code(RoomCode(random_code())) is None
            assert await uow.rooms.load(RoomId(uuid.uuid4())) is None

    async def test_save_writes_the_change_and_completes_the_key(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann, bob, room, after = await self._bob_seated_in_anns_room(uow_factory, make_user)
        async with uow_factory() as uow:
            read = await uow.rooms.load(room.room_id)
        assert read is not None and read.room == after and after.version == 1
        assert read.room.seats[1].user_id == bob
        assert dict(read.display_names) == {ann: "Ann", bob: "Bob"}

    async def test_save_of_host_succession_and_closing(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann, bob, room, joined = await self._bob_seated_in_anns_room(uow_factory, make_user)
        left = joined.leave(ann).room
        closed = left.leave(bob).room
        for after, user in ((left, ann), (closed, bob)):
            key = new_key(user)
            async with uow_factory() as uow:
                await uow.idempotency.claim(key, "fp")
                assert await uow.rooms.lock(room.room_id) is not None
                await uow.rooms.save(after, done(key, after))
                await uow.commit()
            async with uow_factory() as uow:
                assert await uow.rooms.get(room.room_id) == after
                assert await uow.idempotency.claim(key, "fp") == Replay(done(key, after).reply)
        assert closed.status is RoomStatus.CLOSED and closed.version == 3
        assert all(seat.status is SeatStatus.EMPTY for seat in closed.seats)

    async def test_nothing_saved_persists_without_commit(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        _ann, _bob, room, key = await self._anns_room_and_bobs_key(uow_factory, make_user)
        async with uow_factory() as uow:
            await self._join_and_save(uow, key, room, "Bob")
        async with uow_factory() as uow:
            assert await uow.rooms.get(room.room_id) == room
            assert await uow.idempotency.claim(key, "fp") == Fresh("Bob")

    async def test_save_over_another_version_or_without_the_key_is_refused(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        _ann, bob, room, key = await self._anns_room_and_bobs_key(uow_factory, make_user)
        after = room.join(bob, "Bob").room
        async with uow_factory() as uow:
            await uow.idempotency.claim(key, "fp")
            assert await uow.rooms.lock(room.room_id) is not None
            with pytest.raises(RuntimeError):
                await uow.rooms.save(replace(after, version=5), done(key, after))
        async with uow_factory() as uow:
            assert await uow.rooms.lock(room.room_id) is not None
            with pytest.raises(RuntimeError):
                await uow.rooms.save(after, done(key, after))  # key never claimed here
        async with uow_factory() as uow:
            assert await uow.rooms.get(room.room_id) == room

    @pytest.mark.parametrize("how", ["lock_by_code", "claim_and_lock"])
    async def test_a_second_lock_waits_then_reads_the_committed_seats(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser, how: str
    ) -> None:
        """The race for a seat: the waiter must see the seat the first one took."""
        ann, bob, cy = await make_user("Ann"), await make_user("Bob"), await make_user("Cy")
        room = await self._committed_room(uow_factory, ann, max_players=2)
        key = new_key(bob)
        async with uow_factory() as first:
            await first.idempotency.claim(key, "fp")
            locked = await first.rooms.lock(room.room_id)
            assert locked is not None

            async def second_lock() -> Room | None:
                async with uow_factory() as second:
                    if how == "lock_by_code":
                        seen = await second.rooms.lock_by_code(room.code)
                    else:
                        _, seen = await second.rooms.claim_and_lock(new_key(cy), "fp", room.code)
                    return None if seen is None else seen.room

            waiting = asyncio.create_task(second_lock())
            await asyncio.sleep(0.05)
            assert not waiting.done()
            after = locked.room.join(bob, "Bob").room
            await first.rooms.save(after, done(key, after))
            await first.commit()
        seen = await waiting
        assert seen == after and seen.seat_of(bob) is not None
        async with uow_factory() as uow:
            read = await uow.rooms.load(room.room_id)
        assert read is not None and read.display_names[bob] == "Bob"

    async def test_a_lock_held_too_long_is_an_unavailable_store(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann = await make_user("Ann")
        room = await self._committed_room(uow_factory, ann)
        async with uow_factory() as first:
            assert await first.rooms.lock(room.room_id) is not None
            async with uow_factory() as second:
                # A read does not wait for the lock.
                assert await second.rooms.load(room.room_id) is not None
                with pytest.raises(StoreUnavailable):
                    await second.rooms.lock(room.room_id)

    async def test_claim_and_lock_holds_the_key_and_reads_the_locked_room(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann, bob, room, key = await self._anns_room_and_bobs_key(uow_factory, make_user)
        async with uow_factory() as uow:
            claim, by_code = await uow.rooms.claim_and_lock(key, "fp", room.code)
            assert claim == Fresh("Bob") and by_code is not None and by_code.room == room
            assert dict(by_code.display_names) == {ann: "Ann"}
            after = by_code.room.join(bob, "Bob").room
            await uow.rooms.save(after, done(key, after))
            await uow.commit()
        async with uow_factory() as uow:
            claim, again = await uow.rooms.claim_and_lock(key, "fp", room.room_id)
            # A repeat replays, and locks and reads nothing.
            assert claim == Replay(done(key, after).reply) and again is None
        other = new_key(bob)
        async with uow_factory() as uow:
            claim, missing = await uow.rooms.claim_and_lock(other, "fp", RoomId(uuid.uuid4()))
            assert claim == Fresh("Bob") and missing is None
            refused = Completion(other, StoredReply.success({"no": "room"}))
            await uow.idempotency.complete(refused)  # the key is held
            await uow.commit()

    async def test_claim_and_lock_tells_a_busy_room_from_a_duplicate_in_progress(
        self, uow_factory: UnitOfWorkFactory, make_user: MakeUser
    ) -> None:
        ann, _bob, room, key = await self._anns_room_and_bobs_key(uow_factory, make_user)
        async with uow_factory() as first:
            await first.rooms.claim_and_lock(key, "fp", room.room_id)
            async with uow_factory() as duplicate:
                with pytest.raises(RequestInProgress):
                    await duplicate.rooms.claim_and_lock(key, "fp", room.room_id)
            async with uow_factory() as other:
                with pytest.raises(StoreUnavailable):
                    await other.rooms.claim_and_lock(new_key(ann), "fp", room.room_id)
