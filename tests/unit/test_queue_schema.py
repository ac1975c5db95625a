"""Migration 0002 creates exactly the queue tables of store/queue_schema.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Table, insert, inspect, select

from lambdalite.store.database import MIGRATIONS_DIR, Database
from lambdalite.store.queue_schema import queue_deduplication, queue_messages, queues
from lambdalite.store.schema import accounts

QUEUE_TABLES = (queues, queue_messages, queue_deduplication)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'lambdalite.db'}")
    database.migrate()
    yield database
    database.dispose()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def test_0002_is_the_head_after_0001() -> None:
    script = ScriptDirectory.from_config(_config())
    revision = script.get_revision("0002")
    assert revision is not None and revision.down_revision == "0001"


@pytest.mark.parametrize("table", QUEUE_TABLES, ids=lambda t: t.name)
def test_migrated_queue_table_matches_schema(db: Database, table: Table) -> None:
    inspector = inspect(db.engine)
    dialect = db.engine.dialect
    columns = inspector.get_columns(table.name)
    assert [(c["name"], c["type"].compile(dialect), c["nullable"]) for c in columns] == [
        (c.name, c.type.compile(dialect), c.nullable) for c in table.columns
    ]
    assert inspector.get_pk_constraint(table.name)["constrained_columns"] == [
        c.name for c in table.primary_key.columns
    ]
    assert _reflected_foreign_keys(inspector, table.name) == {
        (tuple(fk.column_keys), fk.referred_table.name, fk.ondelete)
        for fk in table.foreign_key_constraints
    }
    reflected = {
        (tuple(ix["column_names"]), bool(ix["unique"])) for ix in inspector.get_indexes(table.name)
    }
    declared = {(tuple(c.name for c in ix.columns), bool(ix.unique)) for ix in table.indexes}
    unique_columns = {((c.name,), True) for c in table.columns if c.unique}
    # SQLite reflects a column's UNIQUE as a unique constraint, not an index.
    constraints = {
        (tuple(uq["column_names"]), True) for uq in inspector.get_unique_constraints(table.name)
    }
    assert reflected | constraints == declared | unique_columns


def test_upgrading_a_0001_database_keeps_its_data(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    config = _config()
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with database.write() as conn:
        conn.execute(insert(accounts).values(account_id="111111111111", name="a", created_at=1))
    assert "queues" not in inspect(database.engine).get_table_names()
    database.migrate()
    with database.read() as conn:
        assert conn.execute(select(accounts.c.name)).scalars().all() == ["a"]
    assert {t.name for t in QUEUE_TABLES} <= set(inspect(database.engine).get_table_names())
    database.dispose()


def test_deleting_a_queue_cascades_to_its_messages(db: Database) -> None:
    with db.write() as conn:
        conn.execute(insert(accounts).values(account_id="111111111111", name="a", created_at=1))
        conn.execute(
            insert(queues).values(
                account_id="111111111111",
                name="q",
                created_at=1,
                last_modified_at=1,
                attributes={},
                tags={},
                last_sequence=0,
            )
        )
        conn.execute(insert(queue_messages).values(**_message_row()))
    with db.write() as conn:
        conn.execute(queues.delete())
    with db.read() as conn:
        assert conn.execute(select(queue_messages.c.message_id)).all() == []


def _message_row() -> dict[str, Any]:
    return {
        "account_id": "111111111111",
        "queue_name": "q",
        "message_id": "m-1",
        "body": "b",
        "attributes": {},
        "system_attributes": {},
        "md5_of_body": "0" * 32,
        "sender_id": "111111111111",
        "sent_at": 1.0,
        "visible_at": 1.0,
        "receive_count": 0,
    }


def _reflected_foreign_keys(inspector: Any, name: str) -> set[tuple[Any, ...]]:
    return {
        (tuple(fk["constrained_columns"]), fk["referred_table"], fk["options"].get("ondelete"))
        for fk in inspector.get_foreign_keys(name)
    }
