"""InvocationMetrics: counters and histograms of invocations, fed by usage records.

The UsageLedger shows every settled record to `observe` once, on the log writer's worker
thread (so they move within a log flush, 0.2 s, of the invocation). The names follow
CloudWatch's Lambda metrics where one exists: Invocations counts invocations that ran,
Errors counts function errors including timeouts and out-of-memory kills, Throttles
counts 429s (which are not Invocations).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from lambdalite.metering.record import Outcome, UsageRecord
from lambdalite.metrics.label_budget import (
    DEFAULT_CAPACITY,
    DEFAULT_IDLE_S,
    Key,
    LabelBudget,
)

# Seconds: a warm hello is ~0.2 ms, a timeout up to 900 s.
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0, 300.0, 900.0,
)  # fmt: skip
START_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
PHASES = ("queued", "create", "runtime", "init", "handler")
LABELS = ("account", "function")


@dataclass
class _Series:
    """One (account, function)'s children, so a record costs increments, not lookups."""

    children: dict[str, Any] = field(default_factory=dict)
    invocations: dict[str, Any] = field(default_factory=dict)  # per trigger


class _Tally:
    """One series' share of a batch of records."""

    __slots__ = (
        "cold",
        "cost",
        "durations",
        "errors",
        "gb_seconds",
        "inits",
        "invocations",
        "oom",
        "phases",
        "throttles",
        "timeouts",
        "warm",
    )

    def __init__(self) -> None:
        self.invocations: dict[str, int] = {}
        self.errors = self.timeouts = self.oom = self.throttles = self.cold = self.warm = 0
        self.gb_seconds = self.cost = 0.0
        self.durations: list[float] = []
        self.inits: list[float] = []
        self.phases: list[tuple[str, float]] = []

    def merge(self, other: _Tally) -> None:
        for trigger, count in other.invocations.items():
            self.invocations[trigger] = self.invocations.get(trigger, 0) + count
        for name in ("errors", "timeouts", "oom", "throttles", "cold", "warm"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.gb_seconds += other.gb_seconds
        self.cost += other.cost
        self.durations += other.durations
        self.inits += other.inits
        self.phases += other.phases

    def add(self, r: UsageRecord) -> None:
        outcome = r.outcome
        if outcome is Outcome.THROTTLED:
            self.throttles += 1
            return
        self.invocations[r.trigger] = self.invocations.get(r.trigger, 0) + 1
        if outcome is not Outcome.SUCCESS:
            self.errors += 1
            if outcome is Outcome.TIMEOUT:
                self.timeouts += 1
            elif outcome is Outcome.OUT_OF_MEMORY:
                self.oom += 1
        # Floats from the integers (the Decimal is for bills; a counter is a float).
        self.gb_seconds += r.billed_ms * r.memory_mb / 1_024_000
        self.cost += float(r.cost)
        self.durations.append(r.duration_ms / 1000)
        if not r.cold:
            self.warm += 1
            return
        self.cold += 1
        if r.init_ms is not None:
            self.inits.append(r.init_ms / 1000)
        for phase, ms in (
            ("queued", r.queued_ms),
            ("create", r.create_ms),
            ("runtime", r.runtime_ms),
            ("init", r.function_init_ms),
            ("handler", r.duration_ms),
        ):
            if ms is not None:
                self.phases.append((phase, ms / 1000))


# Per (account id, function name): what a batch of usage records adds to the metrics.
Tallies = dict[tuple[str, str], _Tally]


def tally(records: Sequence[UsageRecord]) -> Tallies:
    """The records' counts per function, before any label budget: plain data that can
    travel between processes."""
    tallies: Tallies = {}
    for record in records:
        key = (record.account_id, record.function_name)
        counted = tallies.get(key)
        if counted is None:
            counted = tallies[key] = _Tally()
        counted.add(record)
    return tallies


class InvocationMetrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        max_functions: int = DEFAULT_CAPACITY,
        idle_s: float = DEFAULT_IDLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = LabelBudget(max_functions, idle_s, clock, on_evict=self._forget)
        self._lock = threading.Lock()
        self._series: dict[Key, _Series] = {}

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, LABELS, registry=registry)

        self.invocations = Counter(
            "lambdalite_invocations",
            "Invocations that ran (throttles are not invocations), by trigger.",
            (*LABELS, "trigger"),
            registry=registry,
        )
        self._counters = {
            "errors": counter(
                "lambdalite_errors", "Function errors, timeouts and out-of-memory kills."
            ),
            "timeouts": counter("lambdalite_timeouts", "Invocations that timed out."),
            "oom": counter("lambdalite_out_of_memory", "Invocations killed for memory."),
            "throttles": counter(
                "lambdalite_throttles", "Invocations refused by concurrency limits (429)."
            ),
            "cold": counter("lambdalite_cold_starts", "Invocations that started a sandbox."),
            "warm": counter("lambdalite_warm_starts", "Invocations on a warm sandbox."),
            "gb_seconds": counter(
                "lambdalite_billed_gb_seconds", "Billed duration times memory, in GB-seconds."
            ),
            "cost": counter(
                "lambdalite_cost",
                "List price of the invocations under the server's price book, in its "
                "currency (no free tier: see `lambdalite bill`).",
            ),
        }
        self._histograms = {
            "duration": Histogram(
                "lambdalite_duration_seconds",
                "Handler duration (the REPORT line's Duration).",
                LABELS,
                buckets=DURATION_BUCKETS,
                registry=registry,
            ),
            "init": Histogram(
                "lambdalite_init_duration_seconds",
                "Init Duration of cold starts.",
                LABELS,
                buckets=START_BUCKETS,
                registry=registry,
            ),
        }
        self.phases = Histogram(
            "lambdalite_cold_start_phase_seconds",
            "Where cold starts' time went: queued for a lease, sandbox creation, runtime "
            "start, function init, handler.",
            ("phase",),
            buckets=START_BUCKETS,
            registry=registry,
        )
        self._phase_children = {phase: self.phases.labels(phase) for phase in PHASES}

    def observe(self, records: Sequence[UsageRecord]) -> None:
        """Count settled usage records (the UsageLedger calls this once per record).
        Counts are tallied per series first: a batch costs one increment per series
        and counter, not one per record."""
        self.apply(tally(records))

    def apply(self, tallies: Tallies) -> None:
        """Count tallies made by `tally` (here, or in the log sink's process, which
        settles the records and sends back only these: decision 0007)."""
        with self._lock:
            merged: dict[Key, _Tally] = {}
            labels = self.budget.labels
            for (account, function), counted in tallies.items():
                key = labels(account, function)
                into = merged.get(key)
                if into is None:
                    merged[key] = counted
                else:
                    into.merge(counted)
            for key, counted in merged.items():
                self._apply(self._series.get(key) or self._new_series(key), key, counted)

    def _apply(self, series: _Series, key: Key, tally: _Tally) -> None:
        for trigger, count in tally.invocations.items():
            invocations = series.invocations.get(trigger)
            if invocations is None:
                invocations = series.invocations[trigger] = self.invocations.labels(*key, trigger)
            invocations.inc(count)
        c = series.children
        for name in ("errors", "timeouts", "oom", "throttles", "cold", "warm"):
            count = getattr(tally, name)
            if count:
                c[name].inc(count)
        if tally.gb_seconds:
            c["gb_seconds"].inc(tally.gb_seconds)
        if tally.cost:
            c["cost"].inc(tally.cost)
        for seconds in tally.durations:
            c["duration"].observe(seconds)
        for seconds in tally.inits:
            c["init"].observe(seconds)
        phases = self._phase_children
        for phase, seconds in tally.phases:
            phases[phase].observe(seconds)

    def _new_series(self, key: Key) -> _Series:
        series = _Series()
        for name, counter in self._counters.items():
            series.children[name] = counter.labels(*key)
        for name, histogram in self._histograms.items():
            series.children[name] = histogram.labels(*key)
        self._series[key] = series
        return series

    def _forget(self, key: Key) -> None:
        """The budget gave this pair's slot away: its series go (under the lock held)."""
        self._series.pop(key, None)
        account, function = key
        self.invocations.remove_by_labels({"account": account, "function": function})
        for metric in (*self._counters.values(), *self._histograms.values()):
            metric.remove(account, function)
