"""`db`: a migrated, empty database of its own per test, on SQLite and on PostgreSQL.

Each backend migrates once per session into a template that every test's database is a
copy of; tests/unit/test_store_schema.py checks what migrating produces.
"""

from __future__ import annotations

import shutil
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
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / template.name)
        database = Database(f"sqlite:///{tmp_path / template.name}")
    else:
        # Looked up here, not requested by name, so that running only the SQLite tests
        # never starts PostgreSQL.
        server: URL = request.getfixturevalue("postgres_template")
        name = f"t_{uuid.uuid4().hex}"
        _run(
            server,
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(server.database or "")
            ),
        )
        # Not dropped afterwards: DROP DATABASE forces a checkpoint, and the whole
        # server is thrown away at the end of the session.
        database = Database(server.set(database=name).render_as_string(hide_password=False))
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database file, copied for each test (a copy costs less than migrating)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "lambdalite.db"
    template = Database(f"sqlite:///{path}")
    template.migrate()
    template.dispose()  # the last connection to close checkpoints and removes the WAL
    assert not path.with_name(f"{path.name}-wal").exists()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> URL:
    """A database migrated once, which each test's database is copied from."""
    url = make_url(postgres.url).set(database="lambdalite_template")
    _run(url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier("lambdalite_template")))
    template = Database(url.render_as_string(hide_password=False))
    template.migrate()
    template.dispose()  # CREATE DATABASE ... TEMPLATE needs it without connections
    return url


def _run(server: URL, statement: sql.Composed) -> None:
    # CREATE DATABASE cannot run in a transaction, nor connected to the database it copies.
    with psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(statement)
