"""How many batches one mapping's poller runs at once, scaled as AWS scales SQS pollers
("Configuring scaling behavior for SQS event source mappings"): five at first; while
messages keep waiting, up to 300 more per minute; back to five when the queue runs dry
or the function is throttled. Never past the cap: the mapping's MaximumConcurrency, else
the server's bound (AWS's own is 1,000 per mapping).
"""

from __future__ import annotations

START = 5
GROWTH_PER_MINUTE = 300


class ConcurrencyScaler:
    def __init__(self) -> None:
        self._target = START
        self._busy_since: float | None = None

    def slots(self, cap: int) -> int:
        return max(1, min(self._target, cap))

    def observe(self, *, backlog: bool, throttled: bool, cap: int, now: float) -> None:
        """After a round: `backlog` when every slot ran a full batch and messages were
        left; `throttled` when an invocation was refused for concurrency."""
        if throttled or not backlog:
            self._target = START
            self._busy_since = None
            return
        if self._busy_since is None:
            self._busy_since = now
            return
        grown = int((now - self._busy_since) * GROWTH_PER_MINUTE / 60)
        if grown:
            self._target = min(max(cap, START), self._target + grown)
            self._busy_since = now
