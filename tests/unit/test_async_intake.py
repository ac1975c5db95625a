"""Accepting events: operations that arrive while a commit runs share the next one; each
`add` returns only once its own event is committed; one refused event (an unknown
function) fails alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert

from lambdalite.asyncinvoke.commits import GroupCommit
from lambdalite.asyncinvoke.event_store import EventStore
from lambdalite.asyncinvoke.intake import EventIntake
from lambdalite.asyncinvoke.model import AsyncEvent
from lambdalite.errors import ResourceNotFoundException
from lambdalite.store.database import Database
from lambdalite.store.schema import accounts

ACCOUNT = "111122223333"


class GatedCheck:
    """The accept check: the first call waits for the test; records each call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.first_started = threading.Event()
        self.release_first = threading.Event()

    def __call__(self, event: AsyncEvent) -> None:
        if not self.calls:
            self.first_started.set()
            self.release_first.wait(10)
        self.calls.append(event.function_name)
        if event.function_name == "missing":
            raise ResourceNotFoundException("Function not found: missing")


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'lambdalite.db'}")
    database.migrate()
    with database.write() as conn:
        conn.execute(insert(accounts).values(account_id=ACCOUNT, name="a", created_at=1))
    return database


def event(n: int, function: str = "fn") -> AsyncEvent:
    return AsyncEvent(f"id-{n:03d}", ACCOUNT, function, None, b"{}", 1.0, 1.0)


def test_events_arriving_during_a_commit_share_the_next_one(db: Database) -> None:
    check, store = GatedCheck(), EventStore(db)

    async def scenario() -> None:
        intake = EventIntake(GroupCommit(db), store, check)
        first = asyncio.create_task(intake.add(event(0)))
        await asyncio.to_thread(check.first_started.wait, 10)
        rest = [asyncio.create_task(intake.add(event(n))) for n in range(1, 50)]
        await asyncio.sleep(0.01)
        assert not any(task.done() for task in [first, *rest]), "nothing returns uncommitted"
        assert store.count() == 0
        check.release_first.set()
        await asyncio.gather(first, *rest)

    asyncio.run(scenario())
    assert store.count() == 50
    # One check per batch and function: the first event alone, then the 49 that waited.
    assert check.calls == ["fn", "fn"]


def test_a_refused_event_fails_alone(db: Database) -> None:
    check, store = GatedCheck(), EventStore(db)
    check.release_first.set()

    async def scenario() -> list[BaseException | None]:
        intake = EventIntake(GroupCommit(db), store, check)
        adds = [intake.add(event(0)), intake.add(event(1, "missing")), intake.add(event(2))]
        return list(await asyncio.gather(*adds, return_exceptions=True))

    first, refused, last = asyncio.run(scenario())
    assert first is None and last is None
    assert isinstance(refused, ResourceNotFoundException)
    assert store.get("id-001") is None and store.count() == 2


def test_a_failing_insert_fails_alone(db: Database) -> None:
    store = EventStore(db)

    async def scenario() -> list[BaseException | None]:
        intake = EventIntake(GroupCommit(db), store)
        duplicate = [intake.add(event(7)), intake.add(event(7))]
        return list(await asyncio.gather(*duplicate, return_exceptions=True))

    first, second = asyncio.run(scenario())
    assert first is None, "its savepoint committed"
    assert second is not None, "the second insert of one request id is refused alone"
    assert store.count() == 1


class FullDisk(Database):
    @contextmanager
    def write(self) -> Iterator[Connection]:
        raise OSError("disk full")
        yield  # pragma: no cover


def test_a_failed_commit_fails_every_event_and_stores_none(db: Database) -> None:
    store = EventStore(db)

    async def scenario() -> list[BaseException | None]:
        intake = EventIntake(GroupCommit(FullDisk(db.url)), store)
        return list(
            await asyncio.gather(*(intake.add(event(n)) for n in range(3)), return_exceptions=True)
        )

    assert all(isinstance(r, OSError) for r in asyncio.run(scenario()))
    assert store.count() == 0
