"""RetentionReaper: each log group keeps its events for its retention, then they go.

PutRetentionPolicy sets a group's days; every pass deletes the events older than that,
in short batches, and the streams they leave empty. AWS deletes expired events "up to 72
hours" late; here it is within one pass (Settings.log_retention_interval_seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from lambdalite.store.logs import LogStore

DAY_MS = 86_400_000


class RetentionReaper:
    def __init__(
        self,
        store: LogStore,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        batch: int = 5_000,
    ) -> None:
        self._store = store
        self._clock_ms = clock_ms
        self._batch = batch

    async def run_once(self) -> int:
        """One pass over every group with a retention policy; returns events deleted."""
        return await run_in_threadpool(self.expire)

    def expire(self) -> int:
        now = self._clock_ms()
        deleted = 0
        for group in self._store.retained_groups():
            assert group.retention_days is not None
            cutoff = now - group.retention_days * DAY_MS
            while True:
                count = self._store.expire(group.account_id, group.name, cutoff, self._batch)
                deleted += count
                if count < self._batch:
                    break
        return deleted
