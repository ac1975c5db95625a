"""mappings/store.py: one mapping per source and function, compare-and-set transitions,
edits that leave nothing behind when they fail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, insert

from lambdalite.mappings.model import EventSourceMapping, MappingState, SourceKind
from lambdalite.mappings.store import MappingExists, MappingStore
from lambdalite.store.database import Database
from lambdalite.store.schema import accounts

ACCOUNT = "111122223333"
ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'lambdalite.db'}")
    database.migrate()
    with database.write() as conn:
        conn.execute(insert(accounts).values(account_id=ACCOUNT, name="a", created_at=1))
    yield database
    database.dispose()


@pytest.fixture
def store(db: Database) -> MappingStore:
    return MappingStore(db)


def mapping(
    uuid: str = "u-1", qualifier: str | None = None, **changes: object
) -> EventSourceMapping:
    made = EventSourceMapping(
        uuid=uuid,
        account_id=ACCOUNT,
        function_name="worker",
        qualifier=qualifier,
        source_kind=SourceKind.SQS,
        source_arn=ARN,
        enabled=True,
        state=MappingState.CREATING,
        state_reason="USER_INITIATED",
        last_modified=1.0,
        batch_size=10,
        batching_window_s=0,
        filter_patterns=('{"body": {"a": [1]}}',),
        source_settings={},
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_a_mapping_round_trips(store: MappingStore) -> None:
    stored = mapping(function_response_types=("ReportBatchItemFailures",), maximum_concurrency=4)
    store.insert(stored)
    assert store.get("u-1") == stored
    assert store.of_account(ACCOUNT) == [stored]


def test_one_mapping_per_source_and_function(store: MappingStore) -> None:
    store.insert(mapping())
    with pytest.raises(MappingExists) as exists:
        store.insert(mapping("u-2"))
    assert exists.value.existing.uuid == "u-1"
    store.insert(mapping("u-3", qualifier="live"))  # another qualifier is another target
    assert [m.uuid for m in store.all()] == ["u-1", "u-3"]


def test_transitions_are_compare_and_set(store: MappingStore) -> None:
    store.insert(mapping())
    assert store.settle("u-1", MappingState.CREATING, MappingState.ENABLED, 2.0)
    # A second server arriving late finds it settled already, and changes nothing.
    assert not store.settle("u-1", MappingState.CREATING, MappingState.DISABLED, 3.0)
    found = store.get("u-1")
    assert found is not None and (found.state, found.last_modified) == (MappingState.ENABLED, 2.0)
    assert not store.remove("u-1", MappingState.DELETING)
    store.change("u-1", lambda m: replace(m, state=MappingState.DELETING))
    assert store.remove("u-1", MappingState.DELETING)
    assert store.get("u-1") is None


def test_a_failed_edit_changes_nothing(store: MappingStore) -> None:
    store.insert(mapping())
    store.insert(mapping("u-2", qualifier="live"))

    def refuse(_: EventSourceMapping) -> EventSourceMapping:
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.change("u-1", refuse)
    with pytest.raises(MappingExists):  # pointing u-2 at u-1's function collides
        store.change("u-2", lambda m: replace(m, qualifier=None, batch_size=1))
    assert store.get("u-1") == mapping()
    assert store.get("u-2") == mapping("u-2", qualifier="live")
    assert store.change("u-9", lambda m: m) is None


def test_mappings_go_with_their_account(db: Database, store: MappingStore) -> None:
    store.insert(mapping())
    with db.write() as conn:
        conn.execute(delete(accounts))
    assert store.all() == []
