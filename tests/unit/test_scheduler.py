"""The scheduler on SQLite and PostgreSQL: a due rule fires once, into the async event
store, in the transaction that advances it; late rules fire once; a failed enqueue
leaves the rule due; a restart or a second server never fires a due time twice."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from lambdalite.asyncinvoke.event_store import EventStore
from lambdalite.asyncinvoke.model import AsyncEvent
from lambdalite.schedules.model import RuleState
from lambdalite.schedules.scheduler import Scheduler
from lambdalite.schedules.service import RuleService
from lambdalite.schedules.store import RuleStore
from lambdalite.store.async_schema import async_events
from lambdalite.store.database import Database
from tests.support.clock import ManualClock as Clock
from tests.support.databases import BACKENDS, migrated_database

ACCOUNT = "111122223333"
REGION = "us-east-1"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
CREATED = 1_800_000_000.4  # 2027-01-15T08:00:00.4Z


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with migrated_database(request, tmp_path, ACCOUNT) as database:
        yield database


def service(db: Database, clock: Clock | None = None) -> RuleService:
    return RuleService(RuleStore(db), REGION, clock or Clock(CREATED))


def scheduler(db: Database) -> Scheduler:
    return Scheduler(RuleStore(db), EventStore(db).insert, REGION)


def rule(db: Database, name: str, expression: str, *targets: dict[str, Any]) -> RuleService:
    rules = service(db)
    rules.put_rule(ACCOUNT, {"Name": name, "ScheduleExpression": expression})
    if targets:
        assert rules.put_targets(ACCOUNT, name, list(targets), None) == []
    return rules


def queued(db: Database) -> list[AsyncEvent]:
    with db.read() as conn:
        rows = conn.execute(select(async_events).order_by(async_events.c.function_name)).all()
    return [
        AsyncEvent(r.request_id, r.account_id, r.function_name, r.qualifier, r.payload, 0, 0)
        for r in rows
    ]


def next_due(db: Database, name: str) -> float | None:
    found = RuleStore(db).get_rule(ACCOUNT, name)
    assert found is not None
    return found.next_due_at


def test_a_due_rule_fires_once_per_target_with_the_scheduled_event(db: Database) -> None:
    rule(
        db,
        "every-minute",
        "rate(1 minute)",
        {"Id": "a", "Arn": FUNCTION + "report"},
        {"Id": "b", "Arn": FUNCTION + "audit:live", "Input": '{"fixed": true}'},
    )
    due = 1_800_000_060.0  # one period after the creation second
    assert next_due(db, "every-minute") == due
    assert scheduler(db).fire_due(due - 0.001) == 0
    assert queued(db) == []
    assert scheduler(db).fire_due(due + 0.2) == 1
    audit, report = queued(db)
    assert (audit.function_name, audit.qualifier) == ("audit", "live")
    assert audit.payload == b'{"fixed": true}'  # Input goes verbatim
    assert report.qualifier is None
    event = json.loads(report.payload)
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2027-01-15T08:01:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/every-minute"],
        "detail": {},
    }
    assert audit.request_id != report.request_id
    assert next_due(db, "every-minute") == due + 60
    assert scheduler(db).fire_due(due + 0.2) == 0, "that due time is spent"


def test_a_rule_missed_for_hours_fires_once_then_keeps_its_phase(db: Database) -> None:
    rule(db, "five", "rate(5 minutes)", {"Id": "a", "Arn": FUNCTION + "f"})
    first_due = 1_800_000_300.0
    later = first_due + 3 * 3600 + 42  # the server was down for three hours
    assert scheduler(db).fire_due(later) == 1
    (event,) = queued(db)
    assert json.loads(event.payload)["time"] == "2027-01-15T08:05:00Z"  # when it fell due
    assert next_due(db, "five") == first_due + 3 * 3600 + 300
    assert scheduler(db).fire_due(later) == 0


def test_a_failed_enqueue_leaves_the_rule_due_and_stores_nothing(db: Database) -> None:
    rule(db, "r", "cron(0 * * * ? *)", {"Id": "a", "Arn": FUNCTION + "f"})
    due = next_due(db, "r")
    assert due == 1_800_003_600.0  # the next whole hour

    def broken(conn: Connection, events: Sequence[AsyncEvent]) -> None:
        EventStore(db).insert(conn, events)
        raise OSError("disk full")

    assert Scheduler(RuleStore(db), broken, REGION).fire_due(due) == 0
    assert queued(db) == [], "the insert was rolled back with the rule's advance"
    assert next_due(db, "r") == due
    assert scheduler(db).fire_due(due) == 1
    assert len(queued(db)) == 1


def test_a_restarted_server_does_not_fire_a_spent_due_time_again(db: Database) -> None:
    rule(db, "r", "rate(1 hour)", {"Id": "a", "Arn": FUNCTION + "f"})
    due = next_due(db, "r")
    assert due is not None
    assert scheduler(db).fire_due(due) == 1
    restarted = Database(db.url)  # a new process: new engine, same catalogue
    try:
        assert scheduler(restarted).fire_due(due) == 0
        assert scheduler(restarted).fire_due(due + 3600) == 1
    finally:
        restarted.dispose()
    assert len(queued(db)) == 2


def test_two_servers_on_one_catalogue_fire_each_due_time_once(db: Database) -> None:
    rules = service(db)
    for n in range(40):
        rules.put_rule(ACCOUNT, {"Name": f"r{n:02d}", "ScheduleExpression": "rate(1 minute)"})
        rules.put_targets(ACCOUNT, f"r{n:02d}", [{"Id": "a", "Arn": FUNCTION + f"f{n:02d}"}], None)
    now = 1_800_000_060.0
    servers = [Database(db.url), Database(db.url)]
    start = threading.Barrier(2)
    fired: list[int] = []

    def run(database: Database) -> None:
        start.wait()
        fired.append(scheduler(database).fire_due(now))

    try:
        threads = [threading.Thread(target=run, args=(d,)) for d in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for database in servers:
            database.dispose()
    assert sum(fired) == 40
    assert sorted(e.function_name for e in queued(db)) == [f"f{n:02d}" for n in range(40)]


def test_disabled_rules_wait_and_enabling_does_not_make_up_missed_runs(db: Database) -> None:
    clock = Clock(CREATED)
    rules = service(db, clock)
    rules.put_rule(ACCOUNT, {"Name": "r", "ScheduleExpression": "rate(1 minute)"})
    rules.put_targets(ACCOUNT, "r", [{"Id": "a", "Arn": FUNCTION + "f"}], None)
    rules.set_state(ACCOUNT, "r", RuleState.DISABLED, None)
    assert next_due(db, "r") is None
    assert scheduler(db).fire_due(CREATED + 3600) == 0
    clock.now = CREATED + 3600
    rules.set_state(ACCOUNT, "r", RuleState.ENABLED, None)
    assert next_due(db, "r") == 1_800_003_660.0  # the next period of its creation phase
    assert scheduler(db).fire_due(CREATED + 3600) == 0
    assert scheduler(db).fire_due(1_800_003_660.0) == 1


def test_a_rule_without_targets_advances_without_events(db: Database) -> None:
    rule(db, "idle", "rate(1 minute)")
    assert scheduler(db).fire_due(1_800_000_060.0) == 1
    assert queued(db) == []
    assert next_due(db, "idle") == 1_800_000_120.0
