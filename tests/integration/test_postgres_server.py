"""The whole server on PostgreSQL: the same API, the same answers, shared by two servers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.conftest import create
from tests.integration.conftest import _run
from tests.support.servers import PostgresServer, start_server

pytestmark = pytest.mark.postgres


def test_two_servers_share_one_postgres_catalogue(
    postgres: PostgresServer, tmp_path: Path, name: str
) -> None:
    database = f"server_{uuid.uuid4().hex[:8]}"
    _run(make_url(postgres.url), sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = make_url(postgres.url).set(database=database).render_as_string(hide_password=False)
    first = start_server(tmp_path / "a", database_url=url)
    # The second shares the database but not the data dir: like two machines. It finds
    # the root account the first created (same pinned key) and sees its functions.
    second = start_server(tmp_path / "b", database_url=url)
    try:
        one: Any = first.client()
        two: Any = second.client()
        created = create(one, name, Publish=True)
        assert first.platform.db.kind == "postgresql"
        assert second.platform.root.account == first.platform.root.account
        got = two.get_function_configuration(FunctionName=name, Qualifier="1")
        assert got["CodeSha256"] == created["CodeSha256"]
        assert [f["FunctionName"] for f in two.list_functions()["Functions"]] == [name]
    finally:
        second.stop()
        first.stop()
