"""A migrated SQLite database matches store/schema.py, and is set up to be durable."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Table, UniqueConstraint, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from lambdalite.store.database import MIGRATIONS_DIR, Database
from lambdalite.store.schema import access_keys, accounts, metadata


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "lambdalite.db"


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{path}")
    database.migrate()
    yield database
    database.dispose()


def test_migrations_create_exactly_the_schema_tables(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set(metadata.tables)


@pytest.mark.parametrize("name", sorted(metadata.tables))
def test_migrated_table_matches_schema(db: Database, name: str) -> None:
    table = metadata.tables[name]
    inspector = inspect(db.engine)
    dialect = db.engine.dialect

    columns = inspector.get_columns(name)
    assert [(c["name"], c["type"].compile(dialect), c["nullable"]) for c in columns] == [
        (c.name, c.type.compile(dialect), c.nullable) for c in table.columns
    ]
    assert inspector.get_pk_constraint(name)["constrained_columns"] == [
        c.name for c in table.primary_key.columns
    ]
    assert _reflected_foreign_keys(inspector, name) == _foreign_keys(table)
    assert {
        (tuple(ix["column_names"]), bool(ix["unique"])) for ix in inspector.get_indexes(name)
    } == {(tuple(c.name for c in ix.columns), bool(ix.unique)) for ix in table.indexes}
    assert {tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(name)} == {
        tuple(c.name for c in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    }


def test_migrate_twice_changes_nothing(db: Database) -> None:
    with db.write() as conn:
        conn.execute(insert(accounts).values(account_id="111111111111", name="a", created_at=1))

    db.migrate()
    Database(db.url).migrate()  # as a second server start would

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    with db.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            head
        ]
        assert conn.execute(select(accounts.c.name)).scalars().all() == ["a"]


def test_sqlite_is_wal_with_full_sync_and_foreign_keys(db: Database, path: Path) -> None:
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

    # WAL is a property of the file, kept for every later connection.
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    # Foreign keys are enforced, not only declared: a key needs its account.
    with pytest.raises(IntegrityError), db.write() as conn:
        conn.execute(
            insert(access_keys).values(
                access_key_id="AKIAORPHAN",
                secret_access_key="s",
                account_id="999999999999",
                created_at=1,
            )
        )


def _reflected_foreign_keys(inspector: Any, name: str) -> set[tuple[Any, ...]]:
    return {
        (
            tuple(fk["constrained_columns"]),
            fk["referred_table"],
            tuple(fk["referred_columns"]),
            fk["options"].get("ondelete"),
        )
        for fk in inspector.get_foreign_keys(name)
    }


def _foreign_keys(table: Table) -> set[tuple[Any, ...]]:
    return {
        (
            tuple(fk.column_keys),
            fk.referred_table.name,
            tuple(e.column.name for e in fk.elements),
            fk.ondelete,
        )
        for fk in table.foreign_key_constraints
    }
