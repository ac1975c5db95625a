"""Usage records in the store, on SQLite and PostgreSQL: written with the log lines' raw
executemany, read back by request id, summed for bills exactly."""

from __future__ import annotations

import datetime
from decimal import Decimal

from lambdalite.metering.bill import GroupBy, from_store
from lambdalite.metering.ledger import UsageLedger
from lambdalite.metering.prices import PriceBook
from lambdalite.metering.record import Outcome, UsageEntry, UsageRecord
from lambdalite.metering.usage_store import UsageStore
from lambdalite.model import Code, FunctionConfig, FunctionVersion
from lambdalite.sandbox.spec import ColdStart, InvocationOutcome
from lambdalite.store.database import Database
from lambdalite.store.logs import LogStore, StreamBatch

A, B = "111111111111", "222222222222"
NOV_1 = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC).timestamp()
DAY = 86_400.0


def version(account: str, name: str, memory: int = 128, storage: int = 512) -> FunctionVersion:
    config = FunctionConfig(
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::1:role/r",
        memory_size=memory,
        ephemeral_storage=storage,
    )
    return FunctionVersion(account, name, "$LATEST", config, Code("ab" * 32, 1), "r", "t")


def records(*entries: UsageEntry) -> list[UsageRecord]:
    return UsageLedger().settle(list(entries))


def ran(duration_ms: float, **extra: object) -> InvocationOutcome:
    return InvocationOutcome("rid", b"{}", duration_ms=duration_ms, **extra)  # type: ignore[arg-type]


def store_records(db: Database, rows: list[UsageRecord]) -> None:
    LogStore(db).append(
        [StreamBatch(rows[0].account_id, "/aws/lambda/f", "s", [(1, "line\n")])],
        1,
        also=lambda conn: UsageStore.insert_in(conn, rows),
    )


def test_records_are_written_with_the_log_lines_and_read_back(db: Database) -> None:
    cold = ran(
        12.5,
        cold=True,
        init_duration_ms=3.25,
        max_memory_used_mb=41,
        cold_start=ColdStart(1.0, 1.5, 0.75),
    )
    written = records(
        ("api", NOV_1 + 10, version(A, "f"), "req-1", cold, 0.5),
        ("event", NOV_1 + 20, version(A, "f"), "req-1", ran(1.0, error_type="ValueError"), 0.1),
        ("api", NOV_1 + 30, version(B, "g"), "req-2", None, 0.0),
    )
    store_records(db, written)
    usage = UsageStore(db)
    found = usage.by_request("req-1")
    assert found == written[:2]  # every field, the decimals exactly
    assert found[0].billed_ms == 16 and found[0].function_init_ms == 0.75
    assert found[1].outcome is Outcome.FUNCTION_ERROR and found[1].trigger == "event"
    assert usage.by_request("req-1", account_id=B) == []
    assert usage.by_request("req-2", account_id=B)[0].outcome is Outcome.THROTTLED
    assert LogStore(db).streams(A, "/aws/lambda/f") == ["s"]


def test_sums_per_day_and_function_in_integers(db: Database) -> None:
    f, g = version(A, "f", memory=256), version(A, "g", memory=1024, storage=1536)
    store_records(
        db,
        records(
            ("api", NOV_1 + 1, f, "1", ran(10.2), 0.0),  # 11 ms
            ("api", NOV_1 + 2, f, "2", ran(0.4), 0.0),  # 1 ms
            ("api", NOV_1 + 3, f, "3", None, 0.0),
            ("api", NOV_1 + DAY + 1, f, "4", ran(99.0), 0.0),  # 99 ms, next day
            ("api", NOV_1 + 5, g, "5", ran(1000.0), 0.0),
        ),
    )
    sums = UsageStore(db).sums(None, int((NOV_1 + 2 * DAY) * 1000))
    by_key = {(s.day, s.function_name): s for s in sums}
    day = int(NOV_1 // DAY)
    first = by_key[(day, "f")]
    assert (first.requests, first.throttled, first.billed_ms, first.mb_ms) == (2, 1, 12, 12 * 256)
    assert by_key[(day + 1, "f")].mb_ms == 99 * 256
    assert by_key[(day, "g")].storage_mb_ms == 1000 * 1024  # 1 GB of /tmp past 512 MB
    assert [(s.day, s.function_name) for s in sums] == [(day, "f"), (day, "g"), (day + 1, "f")]
    # A book that rounds to 100 ms: 11 -> 100 and 1 -> 100.
    rounded = UsageStore(db).sums(None, int((NOV_1 + DAY) * 1000), rounding_ms=100)
    assert {s.function_name: s.mb_ms for s in rounded}["f"] == 200 * 256


def test_a_bill_from_the_store_by_account_sees_only_that_account(db: Database) -> None:
    store_records(
        db,
        records(
            ("api", NOV_1 + 1, version(A, "f", memory=1024), "1", ran(1000.0), 0.0),
            ("api", NOV_1 + 2, version(B, "f", memory=1024), "2", ran(1000.0), 0.0),
        ),
    )
    until = int((NOV_1 + DAY) * 1000)
    book = PriceBook.load("self-hosted")
    mine = from_store(UsageStore(db), book, GroupBy.FUNCTION, None, until, account_id=A)
    assert [g.key for g in mine.groups] == [{"Account": A, "Function": "f"}]
    everyone = from_store(UsageStore(db), book, GroupBy.ACCOUNT, None, until)
    assert [g.key["Account"] for g in everyone.groups] == [A, B]
    assert everyone.total.gb_seconds == Decimal(2)
    assert everyone.total.cost == 2 * book.tiers("x86_64")[0].per_gb_second
