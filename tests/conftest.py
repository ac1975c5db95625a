"""Shared fixtures: a running lambdalite server, boto3 clients, a PostgreSQL server."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import PostgresServer, RunningServer, start_postgres, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the session; tests keep apart by using unique function names."""
    running = start_server(tmp_path_factory.mktemp("lambdalite"))
    yield running
    running.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A server of its own, for tests that look at the whole data dir or account."""
    running = start_server(tmp_path / "data")
    yield running
    running.stop()


@pytest.fixture
def lam(server: RunningServer) -> Any:
    return server.client()


@pytest.fixture
def account(server: RunningServer) -> str:
    """The root account's id."""
    return server.platform.root.account.account_id


@pytest.fixture
def name() -> str:
    return f"fn-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    running = start_postgres()
    if running is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    yield running
    running.stop()


def make_zip(files: dict[str, str | bytes] | None = None) -> bytes:
    files = files or {"app.py": "def handler(event, context):\n    return event\n"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def create(lam: Any, name: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip()},
    }
    params.update(extra)
    result: dict[str, Any] = lam.create_function(**params)
    return result
