"""PlatformMetrics: one server's CollectorRegistry and what feeds it.

    invocations   counters and histograms, fed by usage records (invocation_metrics.py)
    sandboxes     alive per state (SandboxPool.counts), sampled on the event loop at scrape
    concurrency   executions holding a lease now, sampled the same way
    async queue   Event invocations waiting and the oldest one's age, read from the store
    dropped       what was shed for lack of room: log events, usage records (must stay 0)

Never the global registry: two servers may live in one process (tests do).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from lambdalite.metrics.async_queue import AsyncQueueStats
from lambdalite.metrics.invocation_metrics import InvocationMetrics
from lambdalite.metrics.label_budget import DEFAULT_CAPACITY, DEFAULT_IDLE_S


@dataclass(frozen=True)
class Sources:
    """Where the sampled values come from. `sandboxes` and `concurrent_executions` read
    event-loop state and are called on the loop; the others may run on any thread."""

    sandboxes: Callable[[], Mapping[str, int]]
    concurrent_executions: Callable[[], int]
    dropped: Callable[[], Mapping[str, int]]  # {"log_events": n, "usage_records": n}
    log_flood_lines: Callable[[], int]
    async_queue: Callable[[], AsyncQueueStats] | None = None  # blocking (a store read)


class PlatformMetrics:
    def __init__(
        self,
        max_functions: int = DEFAULT_CAPACITY,
        idle_s: float = DEFAULT_IDLE_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.invocations = InvocationMetrics(self.registry, max_functions, idle_s, clock)
        self._wall_clock = wall_clock
        self._sources: Sources | None = None
        r = self.registry
        self._sandboxes = Gauge(
            "lambdalite_sandboxes", "Sandboxes alive, per state.", ("state",), registry=r
        )
        self._concurrent = Gauge(
            "lambdalite_concurrent_executions",
            "Invocations running now (holding a concurrency lease), all accounts.",
            registry=r,
        )
        self._async_events = Gauge(
            "lambdalite_async_events",
            "Accepted Event invocations not finished: due (claimable), delayed (retry "
            "backoff), running.",
            ("state",),
            registry=r,
        )
        self._async_age = Gauge(
            "lambdalite_async_oldest_event_age_seconds",
            "Age of the oldest unfinished Event invocation (0: none).",
            registry=r,
        )
        r.register(_Dropped(lambda: self._sources))

    def watch(self, sources: Sources) -> None:
        self._sources = sources

    def sample(self) -> None:
        """Read event-loop state into the gauges; call on the event loop."""
        sources = self._sources
        if sources is None:
            return
        for state, count in sources.sandboxes().items():
            self._sandboxes.labels(state).set(count)
        self._concurrent.set(sources.concurrent_executions())

    def render(self) -> bytes:
        """The Prometheus text exposition (blocking: it may read the store)."""
        sources = self._sources
        if sources is not None and sources.async_queue is not None:
            stats = sources.async_queue()
            for state, count in (
                ("due", stats.due),
                ("delayed", stats.delayed),
                ("running", stats.running),
            ):
                self._async_events.labels(state).set(count)
            oldest = stats.oldest_enqueued_at
            self._async_age.set(max(self._wall_clock() - oldest, 0.0) if oldest else 0.0)
        return generate_latest(self.registry)


class _Dropped(Collector):
    """Counters kept by their owners (ints read at scrape: no work on their paths)."""

    def __init__(self, sources: Callable[[], Sources | None]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[CounterMetricFamily]:
        sources = self._sources()
        dropped = CounterMetricFamily(
            "lambdalite_dropped",
            "Records shed because the store did not keep up; must stay 0.",
            labels=("what",),
        )
        flood = CounterMetricFamily(
            "lambdalite_log_flood_dropped_lines",
            "Lines of function output dropped by the per-sandbox flood caps (by design).",
        )
        values = sources.dropped() if sources is not None else {}
        for what in ("log_events", "usage_records"):
            dropped.add_metric((what,), values.get(what, 0))
        flood.add_metric((), sources.log_flood_lines() if sources is not None else 0)
        yield dropped
        yield flood
