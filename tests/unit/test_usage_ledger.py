"""The UsageLedger: records as the REPORT line says them, throttles, and nothing lost
without a count (shed past the bound, kept when a transaction fails)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from lambdalite.metering.ledger import UsageLedger
from lambdalite.metering.record import Outcome, UsageEntry, UsageRecord
from lambdalite.model import Code, FunctionConfig, FunctionVersion
from lambdalite.sandbox.spec import ColdStart, InvocationOutcome

VERSION = FunctionVersion(
    "123456789012",
    "fn",
    "3",
    FunctionConfig(
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::1:role/r",
        memory_size=1024,
        architectures=("arm64",),
        ephemeral_storage=1536,
    ),
    Code("ab" * 32, 10),
    "rev",
    "2026-11-26T00:00:00.000+0000",
)


def entry(outcome: InvocationOutcome | None, request_id: str = "rid") -> UsageEntry:
    return ("api", 1_795_000_000.25, VERSION, request_id, outcome, 0.04)


def test_a_cold_invocation_is_recorded_as_its_report_line_says() -> None:
    start = ColdStart(create_ms=1.5, runtime_ms=2.25, function_init_ms=0.5)
    outcome = InvocationOutcome(
        "rid",
        b"{}",
        cold=True,
        init_duration_ms=4.2,
        duration_ms=10.01,
        max_memory_used_mb=40,
        cold_start=start,
    )
    record = UsageLedger().record(entry(outcome))
    assert record.billed_ms == 15  # ceil(4.2 + 10.01), AWS's rule since 2025-08
    assert (record.init_ms, record.duration_ms, record.max_memory_used_mb) == (4.2, 10.01, 40)
    assert (record.memory_mb, record.architecture, record.ephemeral_storage_mb) == (
        1024,
        "arm64",
        1536,
    )
    assert record.started_at == 1_795_000_000_250
    assert record.gb_seconds == Decimal("0.015")
    # arm64 at the first tier, plus 1 GB of /tmp past 512 MB, plus the request.
    assert record.cost == Decimal("0.0000002") + Decimal("0.015") * (
        Decimal("0.0000133334") + Decimal("0.0000000309")
    )
    assert (record.queued_ms, record.create_ms, record.runtime_ms, record.function_init_ms) == (
        0.04,
        1.5,
        2.25,
        0.5,
    )
    assert record.cold and record.outcome is Outcome.SUCCESS


def test_a_warm_invocation_bills_its_duration_only() -> None:
    outcome = InvocationOutcome("rid", b"{}", duration_ms=0.2)
    record = UsageLedger().record(entry(outcome))
    assert (record.billed_ms, record.init_ms, record.cold, record.create_ms) == (
        1,
        None,
        False,
        None,
    )


@pytest.mark.parametrize(
    ("error_type", "outcome"),
    [
        ("Sandbox.Timedout", Outcome.TIMEOUT),
        ("Runtime.OutOfMemory", Outcome.OUT_OF_MEMORY),
        ("Runtime.ExitError", Outcome.FUNCTION_ERROR),
        ("ValueError", Outcome.FUNCTION_ERROR),
    ],
)
def test_errors_are_classified(error_type: str, outcome: Outcome) -> None:
    ran = InvocationOutcome("rid", b"{}", function_error="Unhandled", error_type=error_type)
    record = UsageLedger().record(entry(ran))
    assert record.outcome is outcome
    assert record.error_type == error_type
    assert record.cost > 0  # an error is billed like a success


def test_a_throttle_is_recorded_but_costs_nothing() -> None:
    record = UsageLedger().record(entry(None))
    assert record.outcome is Outcome.THROTTLED
    assert (record.billed_ms, record.gb_seconds, record.cost) == (0, 0, 0)


def test_records_past_the_bound_are_shed_and_counted() -> None:
    ledger = UsageLedger(max_buffered=3)
    for i in range(5):
        ledger.add(entry(None, f"r{i}"))
    assert ledger.shed == 2
    assert [r.request_id for r in ledger.settle(ledger.take())] == ["r0", "r1", "r2"]
    assert ledger.take() == []  # taken once


def test_a_failed_transaction_keeps_its_records_and_observers_see_each_once() -> None:
    seen: list[str] = []

    def observe(records: Sequence[UsageRecord]) -> None:
        seen.extend(r.request_id for r in records)

    ledger = UsageLedger(observers=[observe])
    ledger.add(entry(None, "first"))
    failed = ledger.settle(ledger.take())
    ledger.unstored(failed)  # the store was down
    ledger.add(entry(None, "second"))
    again = ledger.settle(ledger.take())
    assert [r.request_id for r in again] == ["first", "second"]
    assert seen == ["first", "second"]
    assert ledger.shed == 0


def test_kept_records_count_against_the_bound() -> None:
    ledger = UsageLedger(max_buffered=2)
    ledger.add(entry(None, "a"))
    ledger.add(entry(None, "b"))
    ledger.unstored(ledger.settle(ledger.take()))
    ledger.add(entry(None, "c"))
    assert ledger.shed == 1
    assert ledger.unstored_count == 2
