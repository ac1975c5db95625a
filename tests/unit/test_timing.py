"""The X-Lambdalite-Timing header: what it says for cold and warm starts."""

from __future__ import annotations

from lambdalite.metering.timing import describe, parse, timing
from lambdalite.sandbox.spec import ColdStart, InvocationOutcome


def test_a_cold_start_says_where_its_time_went() -> None:
    outcome = InvocationOutcome(
        "rid",
        b"{}",
        cold=True,
        init_duration_ms=3.5,
        duration_ms=0.25,
        cold_start=ColdStart(create_ms=1.25, runtime_ms=2.0, function_init_ms=0.5),
    )
    header = timing(outcome, queued_ms=0.01)
    assert parse(header) == {
        "cold": "1",
        "queued": "0.010",
        "create": "1.250",
        "runtime": "2.000",
        "init": "0.500",
        "handler": "0.250",
        "billed": "4",
    }
    assert describe(header) == (
        "cold start: queued for a lease 0.01 ms, sandbox creation 1.25 ms, runtime start "
        "2.00 ms, function init 0.50 ms, handler 0.25 ms; billed 4 ms"
    )


def test_a_warm_start_has_only_the_handler() -> None:
    header = timing(InvocationOutcome("rid", b"{}", duration_ms=0.2), queued_ms=0.002)
    assert parse(header) == {"cold": "0", "queued": "0.002", "handler": "0.200", "billed": "1"}
    assert describe(header).startswith("warm start: queued for a lease 0.00 ms, handler 0.20 ms")


def test_a_provided_runtime_has_no_runtime_phase() -> None:
    outcome = InvocationOutcome(
        "rid",
        b"{}",
        cold=True,
        init_duration_ms=3.0,
        duration_ms=1.0,
        cold_start=ColdStart(create_ms=1.0, runtime_ms=None, function_init_ms=2.0),
    )
    assert "runtime" not in parse(timing(outcome, 0.0))
