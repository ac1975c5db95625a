"""Fixtures of the event source mapping tests: one server per module whose clock the
tests move and whose pollers only run when a test says (tests/support/mappings.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clock import ManualClock as Clock
from tests.support.mappings import ClockedServer, start_clocked_server


@pytest.fixture(scope="module")
def esm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedServer]:
    running = start_clocked_server(tmp_path_factory.mktemp("esm"), Clock())
    yield running
    running.stop()


@pytest.fixture
def lam(esm_server: ClockedServer) -> Any:
    return esm_server.client()


@pytest.fixture
def sqs(esm_server: ClockedServer) -> Any:
    return esm_server.client("sqs")


@pytest.fixture
def name() -> str:
    return f"esm-{uuid.uuid4().hex[:12]}"
