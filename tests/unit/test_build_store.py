"""Dependency builds in the store (layers/build_store.py): one per requirement set and
account, claimed with a lease, taken over when its server stops renewing, and tried
again when someone asks for a failed one anew. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.layers.build_store import BuildStore
from lambdalite.layers.model import BuildStatus, DependencyLayer
from lambdalite.layers.requirements import BuildRequest, request_for
from lambdalite.store.database import Database
from tests.support.databases import BACKENDS, migrated_database

ACCOUNT = "111122223333"
LEASE_S = 60.0


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with migrated_database(request, tmp_path, ACCOUNT) as database:
        yield database


def six() -> BuildRequest:
    found = request_for(["six==1.17.0"], "requirements.txt")
    assert found is not None
    return found


def layer(digest: str = "cd" * 32) -> DependencyLayer:
    return DependencyLayer(ACCOUNT, digest, ("six==1.17.0",), "3.11", "p", 100, 2)


def test_the_same_requirements_are_one_build(db: Database) -> None:
    store = BuildStore(db)
    first = store.request(ACCOUNT, six(), now=1.0)
    again = store.request(ACCOUNT, six(), now=2.0)
    assert first.key == again.key and again.status is BuildStatus.PENDING
    assert len(store.all()) == 1


def test_a_claimed_build_is_not_claimed_twice_until_its_lease_runs_out(db: Database) -> None:
    store = BuildStore(db)
    store.request(ACCOUNT, six(), now=1.0)
    mine = store.claim("server-a", LEASE_S, now=2.0)
    assert mine is not None and mine.status is BuildStatus.BUILDING and mine.attempts == 1
    assert store.claim("server-b", LEASE_S, now=3.0) is None

    assert store.renew(mine, "server-a", 100.0, "Collecting six\n")
    assert store.claim("server-b", LEASE_S, now=99.0) is None
    taken = store.claim("server-b", LEASE_S, now=101.0)  # server-a stopped renewing
    assert taken is not None and taken.attempts == 2

    # The first server's late result is not recorded: the build is no longer its.
    assert not store.finish(mine, "server-a", layer=layer(), reason=None, log="")
    assert store.finish(taken, "server-b", layer=layer(), reason=None, log="ok\n")
    done = store.get(ACCOUNT, mine.key)
    assert done is not None and done.status is BuildStatus.READY and done.log == "ok\n"
    assert store.layer(ACCOUNT, "cd" * 32) is not None


def test_a_failed_build_asked_for_again_is_pending_again(db: Database) -> None:
    store = BuildStore(db)
    store.request(ACCOUNT, six(), now=1.0)
    claimed = store.claim("s", LEASE_S, now=2.0)
    assert claimed is not None
    store.finish(claimed, "s", layer=None, reason="pip exited with status 1", log="ERROR\n")
    failed = store.get(ACCOUNT, claimed.key)
    assert failed is not None and failed.status is BuildStatus.FAILED

    retried = store.request(ACCOUNT, six(), now=3.0)
    assert (retried.status, retried.reason, retried.log) == (BuildStatus.PENDING, None, "")


def test_builds_left_building_by_a_stopped_server_are_pending_again(db: Database) -> None:
    store = BuildStore(db)
    store.request(ACCOUNT, six(), now=1.0)
    assert store.claim("gone", LEASE_S, now=2.0) is not None
    assert store.release_all_building() == 1
    assert store.claim("restarted", LEASE_S, now=3.0) is not None
