"""EventStore claims on SQLite and PostgreSQL: two servers never hold one event, a lease
that runs out frees it, and a loop that lost its lease changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from lambdalite.asyncinvoke.event_store import EventStore
from lambdalite.asyncinvoke.model import AsyncEvent, Condition, Delivery, Response
from lambdalite.asyncinvoke.retry import RetryPolicy
from lambdalite.store.database import Database
from tests.support.databases import BACKENDS, migrated_database

ACCOUNT = "111122223333"


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with migrated_database(request, tmp_path, ACCOUNT) as database:
        yield database


def accept(store: EventStore, count: int, now: float = 0.0) -> list[str]:
    events = [AsyncEvent(f"e-{n:04d}", ACCOUNT, "fn", None, b"{}", now, now) for n in range(count)]
    store.add(events)
    return [e.request_id for e in events]


def test_concurrent_claims_take_each_event_once(db: Database) -> None:
    store = EventStore(db)
    ids = accept(store, 120)

    def claim_all(owner: str) -> list[str]:
        taken: list[str] = []
        while batch := store.claim(owner, 1.0, 7, 60.0):
            taken += [e.request_id for e in batch]
        return taken

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(claim_all, ["a", "b", "c", "d"]))
    flat = [rid for taken in results for rid in taken]
    assert sorted(flat) == ids, "every event claimed, none twice"


def test_a_lease_that_runs_out_frees_the_event_and_the_old_owner_loses_it(
    db: Database,
) -> None:
    store = EventStore(db)
    (rid,) = accept(store, 1)
    (first,) = store.claim("old", 0.0, 10, 60.0)
    assert store.claim("new", 59.0, 10, 60.0) == []
    (second,) = store.claim("new", 60.0, 10, 60.0)
    assert second.request_id == rid
    assert not store.reschedule("old", replace(first, due_at=1.0)), "the old owner lost it"
    assert not store.finish("old", rid)
    assert store.finish("new", rid)
    assert store.count() == 0


def test_an_events_progress_round_trips(db: Database) -> None:
    store = EventStore(db)
    (rid,) = accept(store, 1)
    (claimed,) = store.claim("me", 0.0, 1, 60.0)
    progressed = replace(
        claimed,
        due_at=5.0,
        invoke_count=2,
        failures=1,
        response=Response(200, "3", "Unhandled", '{"errorMessage": "x"}'),
        condition=Condition.RETRIES_EXHAUSTED,
        delivery=Delivery("arn:aws:sqs:us-east-1:111122223333:q", "{}", {}),
        last_error="queue gone",
    )
    assert store.reschedule("me", progressed)
    assert store.get(rid) == progressed
    assert store.release("me", 0.0) == 0, "rescheduling freed it"


def test_retry_waits_are_awss_scaled() -> None:
    policy = RetryPolicy()
    assert [policy.after_function_error(n) for n in (1, 2)] == [60.0, 120.0]
    assert [policy.after_failure(n) for n in (1, 2, 3, 9, 10, 50)] == [1, 2, 4, 256, 300, 300]
    fast = RetryPolicy(scale=0.001)
    assert fast.after_function_error(1) == 0.06
    assert fast.after_failure(10) == 0.3
