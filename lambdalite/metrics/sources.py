"""What one server's metrics sample, read from its engine and store (server.py wires it)."""

from __future__ import annotations

from lambdalite.invoke.engine import Engine
from lambdalite.metrics.async_queue import AsyncQueueProbe
from lambdalite.metrics.platform_metrics import Sources


def engine_sources(engine: Engine, async_queue: AsyncQueueProbe | None) -> Sources:
    logs = engine.logs
    return Sources(
        sandboxes=lambda: {str(state): n for state, n in engine.pool.counts().items()},
        concurrent_executions=engine.limiter.in_use,
        dropped=lambda: {"log_events": logs.dropped_events, "usage_records": logs.usage.shed},
        log_flood_lines=lambda: logs.caps.dropped_lines,
        async_queue=async_queue.stats if async_queue is not None else None,
    )
