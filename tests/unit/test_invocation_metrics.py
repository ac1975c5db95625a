"""Invocation metrics from usage records: what moves, and bounded function labels."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lambdalite.metering.record import Outcome, UsageRecord
from lambdalite.metrics.invocation_metrics import InvocationMetrics
from lambdalite.metrics.label_budget import OTHER

A = "123456789012"


def record(function: str, outcome: Outcome = Outcome.SUCCESS, cold: bool = False) -> UsageRecord:
    return UsageRecord(
        A, function, "$LATEST", "rid", "api", 0, 5.0 if cold else None, 2.0, 8 if cold else 2,
        128, 30, "x86_64", 512, cold, False, outcome, None, Decimal("0.00025"),
        Decimal("0.0000002041666675"), 0.01 if cold else None, 1.0 if cold else None,
        2.0 if cold else None, 1.5 if cold else None,
    )  # fmt: skip


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_outcomes_move_their_counters() -> None:
    registry = CollectorRegistry()
    metrics = InvocationMetrics(registry)
    metrics.observe(
        [
            record("f", cold=True),
            record("f"),
            record("f", Outcome.TIMEOUT),
            record("f", Outcome.OUT_OF_MEMORY),
            record("f", Outcome.THROTTLED),
        ]
    )
    got = samples(registry)
    labels = (("account", A), ("function", "f"))
    assert got[("lambdalite_invocations_total", (*labels, ("trigger", "api")))] == 4
    assert got[("lambdalite_errors_total", labels)] == 2
    assert got[("lambdalite_timeouts_total", labels)] == 1
    assert got[("lambdalite_out_of_memory_total", labels)] == 1
    assert got[("lambdalite_throttles_total", labels)] == 1
    assert got[("lambdalite_cold_starts_total", labels)] == 1
    assert got[("lambdalite_warm_starts_total", labels)] == 3
    assert got[("lambdalite_duration_seconds_count", labels)] == 4
    assert got[("lambdalite_init_duration_seconds_sum", labels)] == 0.005
    assert got[("lambdalite_cold_start_phase_seconds_sum", (("phase", "runtime"),))] == 0.002
    # 2 + 2 + 2 + 8 billed ms at 128 MB.
    assert got[("lambdalite_billed_gb_seconds_total", labels)] == 14 * 128 / 1_024_000


def test_functions_past_the_budget_are_folded_and_idle_ones_removed() -> None:
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    registry = CollectorRegistry()
    metrics = InvocationMetrics(registry, max_functions=2, idle_s=60, clock=clock)
    metrics.observe([record("a"), record("b"), record("c"), record("d")])
    functions = {dict(labels).get("function") for _, labels in samples(registry)}
    assert functions >= {"a", "b", OTHER} and not functions & {"c", "d"}
    other = (("account", A), ("function", OTHER), ("trigger", "api"))
    assert samples(registry)[("lambdalite_invocations_total", other)] == 2
    clock.now = 100  # a and b idle for longer than 60 s: c takes a's slot
    metrics.observe([record("c")])
    functions = {dict(labels).get("function") for _, labels in samples(registry)}
    assert "c" in functions and "a" not in functions and "b" in functions
