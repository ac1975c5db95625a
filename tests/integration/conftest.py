"""`db`: a migrated, empty database of its own per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from lambdalite.store.database import Database
from tests.support.servers import PostgresServer


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'lambdalite.db'}")
        database.migrate()
        yield database
        database.dispose()
        return
    # Looked up here, not requested by name, so a run of the SQLite tests alone never
    # starts PostgreSQL.
    server: PostgresServer = request.getfixturevalue("postgres")
    admin = make_url(server.url)
    name = f"t_{uuid.uuid4().hex}"
    _run(admin, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = Database(admin.set(database=name).render_as_string(hide_password=False))
    database.migrate()
    yield database
    database.dispose()
    _run(admin, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _run(admin: URL, statement: sql.Composed) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction: autocommit.
    with psycopg.connect(
        host=admin.host,
        port=admin.port,
        user=admin.username,
        dbname=admin.database,
        autocommit=True,
    ) as conn:
        conn.execute(statement)
