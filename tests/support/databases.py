"""A migrated database with one account, on SQLite or on the session's PostgreSQL, for
unit tests of stores whose concurrency differs between the two (row locks vs BEGIN
IMMEDIATE)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from lambdalite.store.database import Database
from lambdalite.store.schema import accounts

# Parametrize a `db` fixture with these; PostgreSQL runs only where it is installed.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def migrated_database(
    request: pytest.FixtureRequest, tmp_path: Path, account_id: str
) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lambdalite.db'}"
    else:
        server = make_url(request.getfixturevalue("postgres").url)
        name = f"t_{uuid.uuid4().hex}"
        with psycopg.connect(
            host=server.host,
            port=server.port,
            user=server.username,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = server.set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    database.migrate()
    with database.write() as conn:
        conn.execute(insert(accounts).values(account_id=account_id, name="a", created_at=1))
    try:
        yield database
    finally:
        database.dispose()
