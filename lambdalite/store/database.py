"""The database: one SQLAlchemy engine, its settings, and migrations applied at start.

SQLite is the default (a file in the data dir), PostgreSQL when several servers share
one catalogue. The same Core queries run on both; only connection setup differs here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
Insert = SqliteInsert | PgInsert


class Database:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str, fsync_commits: bool = True) -> None:
        """`fsync_commits=False` (SQLite): a commit is safe against any process crash
        but a power loss may undo the last ones (synchronous=NORMAL in WAL mode); only
        for what is not under "accepted means durable" (the log sink, decision 0007)."""
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.engine: Engine = _create_engine(url, self.is_sqlite, fsync_commits)

    @property
    def kind(self) -> str:
        return "sqlite" if self.is_sqlite else make_url(self.url).get_backend_name()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent; safe on every start)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        # On SQLite a write transaction starts with BEGIN IMMEDIATE: a deferred one that
        # upgrades from read to write can fail at once with SQLITE_BUSY instead of waiting.
        with (
            self.engine.connect().execution_options(lambdalite_write=True) as conn,
            conn.begin(),
        ):
            yield conn

    def insert(self, table: Table) -> Insert:
        """The dialect's INSERT, which has ON CONFLICT on both SQLite and PostgreSQL
        (`on_conflict_do_nothing`, `on_conflict_do_update`): portable upserts."""
        if self.is_sqlite:
            return sqlite_insert(table)
        return pg_insert(table)

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str, is_sqlite: bool, fsync_commits: bool) -> Engine:
    if not is_sqlite:
        return create_engine(url, pool_pre_ping=True, future=True)
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        # WAL: readers never block the writer. synchronous=FULL: a commit is fsync'd
        # before it returns, which "accepted means durable" relies on (docs/decisions).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={'FULL' if fsync_commits else 'NORMAL'}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("lambdalite_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
